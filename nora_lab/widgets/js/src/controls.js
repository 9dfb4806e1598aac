// Controls on the viewer: a toolbar (layout, colormap, window presets + level/width, "?"
// help) and a layer list (NORA's per-layer viewbar: visibility, colormap or colour, window,
// opacity, outline). Every control writes a model trait (Python sees it at once); update()
// rewrites the controls from the model after every change, from Python or the page.
// As in NORA, a colormap, window or opacity chosen with shift held (or with "only this
// viewport" ticked) applies to the active viewport only: the layer's `per_viewport`.

// Display properties a layer may have per viewport (nora_lab.widgets._layers.APPEARANCE).
export const APPEARANCE = ['colormap', 'window', 'opacity']

// The spec as viewport `index` draws it: its per-viewport look over the layer's own.
export function effective (spec, index) {
  return { ...spec, ...((spec.per_viewport || {})[String(index)] || {}) }
}

const LAYOUT_NAMES = { 1: '1', '1x2': '1×2', '1x3': '1×3', '2x2': '2×2', '3x3': '3×3', mosaic: 'mosaic' }
const COMMON_COLORMAPS = ['gray', 'hot', 'warm', 'cool', 'winter', 'viridis', 'plasma', 'inferno',
  'jet', 'bone', 'red', 'green', 'blue', 'redyell', 'ct_bones', 'freesurfer']

export const HELP = [
  ['left click', 'crosshair (shared by all viewports)'],
  ['wheel', 'next / previous slice'],
  ['ctrl + wheel', 'zoom'],
  ['right drag', 'pan (in ROI edit: erase)'],
  ['middle drag', 'window level / width'],
  ['double click', 'window back to the one the image opened with'],
  ['1 – 6', 'CT windows (brain, subdural, stroke, bone, lung, soft tissue), CT images only'],
  ['0', 'auto window (2–98 % of the image)'],
  ['space', 'ROI edit on / off (left draws, right erases)'],
  ['ctrl+z / shift+ctrl+z', 'undo / redo (ROI tool)'],
  ['↑ / ↓', 'previous / next study (desk)'],
  ['s', 'settings: show / hide the layer list'],
  ['shift + a layer control', 'colormap / window / opacity for the active viewport only'],
  ['x / y', 'scroll speed: slower / faster (slices per wheel step)'],
  ['drop a file', 'view a local NIfTI / MGZ / NRRD / GIFTI / TCK / TRK in this page (not uploaded)']
]

function h (tag, attrs = {}, ...children) {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v)
    else if (k === 'className') e.className = v
    else if (v !== undefined && v !== null) e.setAttribute(k, v)
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c)
  return e
}

function fmt (x) {
  return String(Math.round(x * 100) / 100)
}

export class Controls {
  constructor (view) {
    this.view = view
    this.model = view.model
    this.layoutSel = h('select', { className: 'nora-layout', title: 'layout', onchange: () => this.set('view_layout', this.layoutSel.value) })
    this.cmapSel = h('select', { className: 'nora-colormap', title: 'colormap of the background', onchange: () => this.setLayer(this.bg(), { colormap: this.cmapSel.value }, this.only()) })
    this.presetSel = h('select', { className: 'nora-preset', title: 'window presets for this modality', onchange: () => this.applyPreset() })
    const num = (cls, title) => h('input', { className: cls, type: 'number', step: 'any', title, onchange: () => this.setWindow(), onkeydown: (e) => { if (e.key === 'Enter') this.setWindow() } })
    this.level = num('nora-level', 'window level (centre of the displayed range)')
    this.width = num('nora-width', 'window width (the displayed range)')
    this.helpBtn = h('button', { className: 'nora-help-btn', title: 'mouse and keys', onclick: () => this.toggleHelp() }, '?')
    this.layersBtn = h('button', { className: 'nora-layers-btn', title: 'layers (key s)', onclick: () => this.toggleLayers() }, '☰')
    this.bar = h('div', { className: 'nora-toolbar' },
      h('label', {}, 'layout ', this.layoutSel),
      h('label', {}, 'colormap ', this.cmapSel),
      h('label', {}, 'window ', this.presetSel),
      h('label', {}, 'L ', this.level),
      h('label', {}, 'W ', this.width),
      this.layersBtn, this.helpBtn)
    this.help = h('div', { className: 'nora-help', style: 'display:none' },
      h('table', {}, ...HELP.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v)))))
    this.layers = h('div', { className: 'nora-layers', style: 'display:none' })
    this.layersKey = ''
    // shift held while choosing = this viewport only (NORA); tracked from keys and presses
    this.shift = false
    const track = (e) => { this.shift = e.shiftKey }
    for (const type of ['keydown', 'keyup']) view.root.addEventListener(type, track, { capture: true })
    this.layers.addEventListener('mousedown', track, { capture: true })
    this.onlyBox = h('input', { type: 'checkbox', className: 'nora-layer-only', title: 'colormap, window and opacity for the active viewport only (or hold shift)' })
    this.onlyLabel = h('label', { className: 'nora-layers-only' }, this.onlyBox, ' only this viewport (shift)')
  }

  // a layer control's change applies to the active viewport only? (shift counts once: the
  // control it was held on may be redrawn before the key comes up)
  only () {
    const shift = this.shift
    this.shift = false
    return shift || this.onlyBox.checked
  }

  set (name, value) {
    this.model.set(name, value)
    this.model.save_changes()
    this.view.schedule()
  }

  bg () {
    return this.view.activeBackground(this.model.get('layers') || [])
  }

  // Change a layer: for every viewport (what single viewports had of these properties
  // goes), or with `only` its colormap / window / opacity in the active viewport alone.
  setLayer (spec, changes, only = false) {
    if (!spec) return
    const active = String(this.model.get('active_viewport'))
    const mine = only && Object.keys(changes).every((k) => APPEARANCE.includes(k))
    const layers = (this.model.get('layers') || []).map((s) => {
      if (s.id !== spec.id) return s
      const per = {}
      for (const [vp, props] of Object.entries(s.per_viewport || {})) {
        const rest = { ...props }
        if (!mine) for (const k of Object.keys(changes)) delete rest[k]
        if (Object.keys(rest).length) per[vp] = rest
      }
      if (mine) return { ...s, per_viewport: { ...per, [active]: { ...(per[active] || {}), ...changes } } }
      return { ...s, ...changes, per_viewport: per }
    })
    this.model.set('layers', layers)
    const bg = this.bg()
    if (changes.window && bg && bg.id === spec.id) this.model.set('window', effective(layers.find((s) => s.id === bg.id), active).window)
    this.model.save_changes()
    this.view.schedule()
  }

  setWindow () {
    const l = parseFloat(this.level.value)
    const w = parseFloat(this.width.value)
    if (Number.isFinite(l) && Number.isFinite(w) && w > 0) this.set('window', [l, w])
  }

  applyPreset () {
    const p = this.view.presets()[this.presetSel.value]
    if (p && p.window) this.set('window', p.window)
  }

  toggleHelp () {
    this.help.style.display = this.help.style.display === 'none' ? '' : 'none'
  }

  toggleLayers () {
    this.layers.style.display = this.layers.style.display === 'none' ? '' : 'none'
  }

  colormaps (current) {
    const nv = this.view.viewports.find((vp) => vp.nv)
    const known = nv ? new Set(nv.nv.colormaps()) : null
    const names = COMMON_COLORMAPS.filter((c) => !known || known.has(c))
    if (current && !names.includes(current)) names.unshift(current)
    return names
  }

  options (sel, items, value) {
    const key = JSON.stringify(items)
    if (sel.dataset.key !== key) {
      sel.replaceChildren(...items.map(([v, label]) => h('option', { value: v }, label)))
      sel.dataset.key = key
    }
    if (value !== undefined && sel.value !== value) sel.value = value
  }

  // model -> controls (Python's changes and the page's own)
  update () {
    const m = this.model
    const focused = document.activeElement
    this.options(this.layoutSel, Object.keys(LAYOUT_NAMES).filter((k) => (m.get('_layouts') || []).includes(k)).map((k) => [k, LAYOUT_NAMES[k]]), m.get('view_layout'))
    const active = m.get('active_viewport')
    const bg = this.bg() && effective(this.bg(), active)
    this.options(this.cmapSel, this.colormaps(bg && bg.colormap).map((c) => [c, c]), bg ? bg.colormap : undefined)
    this.cmapSel.disabled = !bg
    const w = m.get('window')
    const presets = this.view.presets()
    const match = Object.entries(presets).find(([, p]) => p.window && Math.abs(p.window[0] - w[0]) < 1e-6 && Math.abs(p.window[1] - w[1]) < 1e-6)
    this.options(this.presetSel, [['', bg ? `${bg.modality || ''} presets…` : '—'], ...Object.entries(presets).map(([k, p]) => [k, `${k} ${p.name} (${fmt(p.window[0])}/${fmt(p.window[1])})`])], match ? match[0] : '')
    if (focused !== this.level) this.level.value = fmt(w[0])
    if (focused !== this.width) this.width.value = fmt(w[1])
    this.updateLayers()
  }

  // the layer list shows each layer as the active viewport draws it
  updateLayers () {
    const active = this.model.get('active_viewport')
    const layers = (this.model.get('layers') || []).map((s) => effective(s, active))
    const key = JSON.stringify([active, layers.map((s) => [s.id, s.name, s.role, s.visible, s.colormap, s.color, s.opacity, s.outline, s.window, s.per_viewport])])
    if (key === this.layersKey) return
    this.layersKey = key
    this.onlyLabel.lastChild.textContent = ` only viewport ${active} (shift)`
    const rows = layers.map((s) => {
      const own = Object.keys((s.per_viewport || {})[String(active)] || {})
      const only = () => this.only()
      const vis = h('input', { type: 'checkbox', title: 'visible', className: 'nora-layer-visible', onchange: (e) => this.setLayer(s, { visible: e.target.checked }) })
      vis.checked = s.visible
      const op = h('input', { type: 'range', min: '0', max: '1', step: '0.05', title: 'opacity', className: 'nora-layer-opacity', onchange: (e) => this.setLayer(s, { opacity: parseFloat(e.target.value) }, only()) })
      op.value = String(s.opacity)
      const cells = [vis, h('span', { className: 'nora-layer-name', title: s.role }, s.name), op]
      if (s.kind === 'volume' && s.role !== 'mask') {
        const sel = h('select', { className: 'nora-layer-colormap', title: 'colormap', onchange: (e) => this.setLayer(s, { colormap: e.target.value }, only()) })
        this.options(sel, this.colormaps(s.colormap).map((c) => [c, c]), s.colormap)
        const setWin = (e) => {
          const [l, w] = e.target.value.split('/').map(parseFloat)
          if (Number.isFinite(l) && Number.isFinite(w) && w > 0) this.setLayer(s, { window: [l, w] }, only())
        }
        const win = h('input', { className: 'nora-layer-window', title: 'window level/width', value: s.window ? `${fmt(s.window[0])}/${fmt(s.window[1])}` : '', size: '9', onchange: setWin, onkeydown: (e) => { if (e.key === 'Enter') setWin(e) } })
        cells.push(sel, win)
      }
      if (s.role === 'mask') {
        const out = h('input', { type: 'checkbox', title: 'outline', className: 'nora-layer-outline', onchange: (e) => this.setLayer(s, { outline: e.target.checked }) })
        out.checked = s.outline
        cells.push(h('label', {}, out, 'outline'))
      }
      // a layer drawn differently in this viewport says which properties are its own
      return h('div', { className: 'nora-layer', 'data-layer': s.id, 'data-own': own.join(','), title: own.length ? `viewport ${active} has its own ${own.join(', ')}` : undefined }, ...cells)
    })
    this.layers.replaceChildren(this.onlyLabel, ...rows)
  }
}

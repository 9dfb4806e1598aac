// Front end of nora_lab.widgets.Viewer: an anywidget ES module around Niivue.
//
// Python owns the state (traits `layers`, `position`, `window`, `view_layout`, ...);
// this module reconciles the page to it and reports user actions back.
// Layer data arrives as binary comm messages (see nora_lab/widgets/_transfer.py):
//   begin {id, version, kind, total, parts[, encoding: 'gzip', format]} / chunk {offset} +
//   buffer / end {seq}
//   mask_diff {id, version, bbox} + buffer
// After every reconcile that leaves nothing pending, the view writes
// `ack` (= model seq) and `frame` back to Python and data-ack / data-frame
// on its root element, so headless tests can wait deterministically.
import { Niivue, NVImage, NVMesh, SLICE_TYPE, DRAG_MODE, SHOW_RENDER } from '@niivue/niivue'
import { TOOLS } from './tools.js'
import { Controls, effective } from './controls.js'

const SLICE = {
  axial: SLICE_TYPE.AXIAL,
  coronal: SLICE_TYPE.CORONAL,
  sagittal: SLICE_TYPE.SAGITTAL,
  multiplanar: SLICE_TYPE.MULTIPLANAR,
  render: SLICE_TYPE.RENDER,
  mosaic: SLICE_TYPE.AXIAL
}
const AXIS_NAMES = ['axial', 'coronal', 'sagittal']
// layout -> [rows, columns, number of viewports]
const GRID = { 1: [1, 1, 1], '1x2': [1, 2, 2], '1x3': [1, 3, 3], '2x2': [2, 2, 4], '3x3': [3, 3, 9], mosaic: [1, 1, 1] }
const ROLE_ORDER = { background: 0, overlay: 1, mask: 2 }
const MAX_VIEWPORTS = 9

// ------------------------------------------------------------------ data store (one per model)

// Volumes arrive gzipped (a .nii.gz as stored): the browser's own inflater, off the main thread.
async function gunzip (u8) {
  const stream = new Blob([u8]).stream().pipeThrough(new DecompressionStream('gzip'))
  return new Response(stream).arrayBuffer()
}

const STORES = new Map()

class Store {
  constructor (model) {
    this.model = model
    this.items = new Map() // id -> {version, kind, vol | pts/tris | pts/offsets}
    this.transfers = new Map() // id -> {version, kind, buf, parts, received, diffs}
    this.views = new Set()
    this.dirty = new Set() // volume ids whose voxels changed (mask diffs)
    this.timings = {} // id -> {begin, end, built} (ms, performance.now()) for benchmarks
  }

  mark (id, what) {
    this.timings[id] = this.timings[id] || {}
    this.timings[id][what] = performance.now()
    for (const v of this.views) v.root.dataset.timings = JSON.stringify(this.timings)
  }

  have () {
    const h = {}
    for (const [id, it] of this.items) h[id] = it.version
    return h
  }

  spec (id) {
    return (this.model.get('layers') || []).find((s) => s.id === id)
  }

  notify () {
    for (const v of this.views) v.schedule()
  }

  fail (err) {
    console.error('[nora viewer]', err)
    const text = String((err && err.message) || err)
    this.model.set('error', text)
    this.model.save_changes()
    for (const v of this.views) v.root.dataset.error = text
  }

  onMessage (msg, buffers) {
    try {
      if (msg.type === 'begin') this.begin(msg)
      else if (msg.type === 'chunk') this.chunk(msg, buffers[0])
      else if (msg.type === 'end') this.end(msg).catch((e) => this.fail(e))
      else if (msg.type === 'mask_diff') this.maskDiff(msg, buffers[0])
    } catch (e) {
      this.fail(e)
    }
  }

  begin (msg) {
    const have = this.items.get(msg.id)
    if (have && have.version >= msg.version) {
      this.transfers.delete(msg.id)
      return
    }
    this.mark(msg.id, 'begin')
    this.transfers.set(msg.id, {
      version: msg.version,
      kind: msg.kind,
      total: msg.total,
      parts: msg.parts,
      encoding: msg.encoding || '',
      format: msg.format || 'nii',
      buf: new Uint8Array(msg.total),
      received: 0,
      diffs: []
    })
  }

  chunk (msg, dv) {
    const t = this.transfers.get(msg.id)
    if (!t || t.version !== msg.version) return
    t.buf.set(new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength), msg.offset)
    t.received += dv.byteLength
  }

  async end (msg) {
    const t = this.transfers.get(msg.id)
    if (!t || t.version !== msg.version) return
    this.transfers.delete(msg.id)
    this.mark(msg.id, 'end')
    const part = (name) => t.parts.find((p) => p.name === name)
    const spec = this.spec(msg.id) || { name: msg.id, role: 'overlay' }
    let item
    if (t.kind === 'volume') {
      const bytes = t.encoding === 'gzip' ? await gunzip(t.buf) : t.buf.buffer
      this.mark(msg.id, 'inflated')
      const vol = await NVImage.new(bytes, `${msg.id}.${t.format}`, spec.colormap || 'gray', spec.opacity ?? 1)
      vol.name = spec.name
      item = { version: t.version, kind: 'volume', vol, props: '' }
    } else {
      const a = part(t.kind === 'mesh' ? 'vertices' : 'points')
      const b = part(t.kind === 'mesh' ? 'faces' : 'offsets')
      item = {
        version: t.version,
        kind: t.kind,
        pts: new Float32Array(t.buf.buffer, a.offset, a.nbytes / 4),
        idx: new Uint32Array(t.buf.buffer, b.offset, b.nbytes / 4)
      }
    }
    const old = this.items.get(msg.id)
    if (old && old.version > item.version) return
    this.items.set(msg.id, item)
    this.mark(msg.id, 'built')
    for (const d of t.diffs) this.applyDiff(item, d.msg, d.dv)
    this.notify()
  }

  maskDiff (msg, dv) {
    const item = this.items.get(msg.id)
    if (item && item.version === msg.version) {
      this.applyDiff(item, msg, dv)
      this.dirty.add(msg.id)
      this.notify()
      return
    }
    const t = this.transfers.get(msg.id)
    if (t && t.version === msg.version) t.diffs.push({ msg, dv })
  }

  applyDiff (item, msg, dv) {
    const img = item.vol.img
    const [x0, x1, y0, y1, z0, z1] = msg.bbox
    const nx = item.vol.hdr.dims[1]
    const ny = item.vol.hdr.dims[2]
    const w = x1 - x0
    const src = new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength)
    let s = 0
    for (let z = z0; z < z1; z++) {
      for (let y = y0; y < y1; y++) {
        img.set(src.subarray(s, s + w), x0 + y * nx + z * nx * ny)
        s += w
      }
    }
  }

  // The NVImage viewport `index` draws layer `spec` with: the layer's own, shared by every
  // viewport that draws it alike, or - where set_appearance / shift in the layer list gave
  // the viewport its own colormap, window or opacity - a view of the same voxels (the same
  // arrays, so mask diffs reach it) with display properties of its own.
  volFor (it, spec, index) {
    const own = (spec.per_viewport || {})[String(index)]
    if (!own || !Object.keys(own).length) return it.vol
    if (!it.views) it.views = new Map()
    let v = it.views.get(index)
    if (!v) {
      v = Object.assign(Object.create(Object.getPrototypeOf(it.vol)), it.vol)
      v.id = `${it.vol.id}:vp${index}`
      v.__noraLook = ''
      it.views.set(index, v)
    }
    return v
  }

  // Set colormap / opacity / window / mask colour of one NVImage (if `key` is new to it).
  applyLook (vol, spec, win, key) {
    if (key === vol.__noraLook) return
    vol.__noraLook = key
    if (spec.role === 'mask') {
      const [r, g, b] = spec.color || [255, 0, 0]
      // outline: both labels transparent, and Niivue's atlas outline paints the voxels
      // on either side of the ROI's border opaque in the ROI's colour
      const lut = spec.outline
        ? { R: [r, r], G: [g, g], B: [b, b], A: [0, 0] }
        : { R: [0, r], G: [0, g], B: [0, b], A: [0, 255] }
      vol.setColormapLabel({ ...lut, I: [0, 1], labels: ['', spec.name] })
    } else if (spec.colormap && vol.colormap !== spec.colormap) {
      vol.colormap = spec.colormap
    }
    vol.opacity = spec.opacity
    if (win) {
      vol.cal_min = win[0] - win[1] / 2
      vol.cal_max = win[0] + win[1] / 2
    }
    vol.__noraOutline = spec.outline ? 1 : 0
  }

  // Niivue changed a window itself (middle drag): every look is applied again.
  forgetLooks () {
    for (const it of this.items.values()) {
      if (it.vol) it.vol.__noraLook = ''
      for (const v of (it.views || new Map()).values()) v.__noraLook = ''
    }
    for (const view of this.views) for (const vp of view.viewports) vp.looks = new WeakMap()
  }

  pending (layers) {
    if (this.transfers.size) return true
    return layers.some((s) => {
      const it = this.items.get(s.id)
      return !it || it.version !== s.version
    })
  }
}

// ------------------------------------------------------------------ one viewport = one Niivue

class Viewport {
  constructor (view, index) {
    this.view = view
    this.index = index
    this.div = document.createElement('div')
    this.div.className = 'nora-vp'
    this.div.dataset.vp = String(index)
    this.div.dataset.frame = '0'
    this.canvas = document.createElement('canvas')
    this.hint = document.createElement('div')
    this.hint.className = 'nora-vp-hint'
    this.hint.textContent = `viewport ${index}: nothing open here – viewer.open(..., viewport=${index})`
    this.hint.style.display = 'none'
    this.div.append(this.canvas, this.hint)
    this.nv = null
    this.ready = null
    this.frames = 0
    this.volIds = ''
    this.meshes = new Map() // id -> {version, mesh}
    this.sliceKey = ''
    this.looks = new WeakMap() // NVImage -> the look this canvas last uploaded
    this.tile = -1 // the tile of a shared canvas last pressed (= its viewport)
  }

  async attach () {
    if (this.ready) return this.ready
    this.ready = (async () => {
      const nv = new Niivue({
        backColor: [0, 0, 0, 1],
        crosshairColor: [1, 0.15, 0.15, 1],
        show3Dcrosshair: true,
        isResizeCanvas: true,
        logLevel: 'error',
        loadingText: '',
        dragAndDropEnabled: false,
        multiplanarShowRender: SHOW_RENDER.AUTO
      })
      await nv.attachToCanvas(this.canvas)
      nv.setMouseEventConfig({
        leftButton: { primary: DRAG_MODE.crosshair, withShift: DRAG_MODE.measurement, withCtrl: DRAG_MODE.crosshair },
        rightButton: DRAG_MODE.pan,
        centerButton: DRAG_MODE.windowing
      })
      const draw = nv.drawScene.bind(nv)
      nv.drawScene = () => {
        const t0 = performance.now()
        const r = draw()
        this.div.dataset.drawMs = String(Math.round(performance.now() - t0))
        this.frames += 1
        this.div.dataset.frame = String(this.frames)
        if (nv.volumes.length) this.div.dataset.mm = JSON.stringify(this.mm().map((x) => Math.round(x * 100) / 100))
        this.view.frames += 1
        this.view.root.dataset.frame = String(this.view.frames)
        return r
      }
      const refresh = nv.refreshLayers.bind(nv)
      nv.refreshLayers = (vol, layer) => {
        nv.opts.atlasOutline = vol.__noraOutline || 0
        return refresh(vol, layer)
      }
      nv.onLocationChange = (loc) => this.view.onLocation(this.view.viewportOf(this), loc)
      nv.addEventListener('mouseUp', () => this.view.onMouseUp(this.index))
      this.canvas.addEventListener('mousedown', (e) => {
        const dpr = nv.uiData.dpr || 1
        const r = this.canvas.getBoundingClientRect()
        this.tile = nv.tileIndex((e.clientX - r.left) * dpr, (e.clientY - r.top) * dpr)
      }, { capture: true })
      this.canvas.addEventListener('dblclick', (e) => this.view.onDoubleClick(this, e), { capture: true })
      this.view.tools.attach(this) // tool modules see canvas events first
      this.view.bindPen(this)
      new ResizeObserver(() => nv.resizeListener()).observe(this.div)
      this.nv = nv
      return nv
    })()
    return this.ready
  }

  mm () {
    const p = this.nv.frac2mm(this.nv.scene.crosshairPos)
    return [p[0], p[1], p[2]]
  }
}

// ------------------------------------------------------------------ a view of the model

class View {
  constructor (model, el, store) {
    this.model = model
    this.store = store
    this.frames = 0
    this.lastAck = -1
    this.root = document.createElement('div')
    this.root.className = 'nora-viewer'
    this.root.tabIndex = -1
    this.root.setAttribute('data-lm-suppress-shortcuts', 'true')
    // right drag pans (erases in ROI edit): JupyterLab's cell context menu must not open
    this.root.setAttribute('data-jp-suppress-context-menu', 'true')
    this.root.addEventListener('contextmenu', (e) => {
      e.preventDefault()
      e.stopPropagation()
    })
    this.root.dataset.frame = '0'
    this.root.dataset.ack = '-1'
    this.grid = document.createElement('div')
    this.grid.className = 'nora-grid'
    this.status = document.createElement('div')
    this.status.className = 'nora-status'
    this.viewports = []
    for (let i = 0; i < MAX_VIEWPORTS; i++) {
      const vp = new Viewport(this, i)
      this.viewports.push(vp)
      this.grid.appendChild(vp.div)
    }
    this.controls = new Controls(this)
    this.stage = document.createElement('div')
    this.stage.className = 'nora-stage'
    this.stage.append(this.grid, this.controls.help, this.controls.layers)
    this.root.append(this.controls.bar, this.stage, this.status)
    el.appendChild(this.root)
    this.scrollStep = 1 // slices per wheel step: keys x (slower) / y (faster)
    this.locals = [] // volumes dropped from the local disk: in this page only, never uploaded
    this.root.addEventListener('dragover', (e) => { e.preventDefault(); e.stopPropagation() })
    this.root.addEventListener('drop', (e) => this.onDrop(e))
    this.root.addEventListener('keydown', (e) => this.onKey(e))
    this.timer = null
    this.busy = false
    this.again = false
    this.saveTimer = null
    this.stroke = null
    this.tools = new ToolHooks(this)
  }

  schedule () {
    if (this.timer !== null) return
    this.timer = setTimeout(() => {
      this.timer = null
      this.reconcile()
    }, 0)
  }

  async reconcile () {
    if (this.busy) {
      this.again = true
      return
    }
    this.busy = true
    try {
      await this.reconcileOnce()
    } catch (e) {
      this.store.fail(e)
    } finally {
      this.busy = false
      if (this.again) {
        this.again = false
        this.schedule()
      }
    }
  }

  activeBackground (layers) {
    const a = this.model.get('active_viewport')
    return [...layers].reverse().find((s) => s.role === 'background' && s.viewports.includes(a))
  }

  async reconcileOnce () {
    const m = this.model
    const layout = m.get('view_layout')
    const [rows, cols, n] = GRID[layout] || GRID[1]
    this.grid.style.gridTemplateColumns = `repeat(${cols}, 1fr)`
    this.grid.style.gridTemplateRows = `repeat(${rows}, 1fr)`
    this.grid.style.height = `${m.get('height')}px`
    this.root.dataset.layout = layout
    const layers = m.get('layers') || []
    const sliceTypes = m.get('slice_types') || []
    // Viewports that all show the same layers are tiles of ONE Niivue canvas (one GPU upload
    // of each volume); viewports with layers of their own get a canvas each.
    const tiles = this.sharedTiles(layers, sliceTypes, rows, cols, n)
    this.root.dataset.shared = String(!!tiles)
    this.viewports.forEach((vp, i) => { vp.div.style.display = (tiles ? i === 0 : i < n) ? '' : 'none' })
    this.viewports[0].div.style.gridArea = tiles ? '1 / 1 / -1 / -1' : ''
    const visible = tiles ? [this.viewports[0]] : this.viewports.slice(0, n)
    await Promise.all(visible.map((vp) => vp.attach()))

    const bg = this.activeBackground(layers)
    const dirty = new Set(this.store.dirty) // masks whose voxels changed
    this.store.dirty.clear()
    const pos = m.get('position')
    for (const vp of visible) {
      const nv = vp.nv
      let needGL = false
      let needDraw = false
      // slice type / mosaic / tiles of a shared canvas
      const st = sliceTypes[vp.index] || 'multiplanar'
      const mosaic = st === 'mosaic' ? m.get('mosaic') : ''
      const radiological = !!m.get('radiological')
      const sliceKey = `${st}|${mosaic}|${radiological}|${JSON.stringify(tiles)}`
      if (sliceKey !== vp.sliceKey) {
        vp.sliceKey = sliceKey
        nv.opts.sliceMosaicString = mosaic
        nv.opts.sliceType = SLICE[st] ?? SLICE_TYPE.MULTIPLANAR
        nv.opts.isRadiologicalConvention = radiological
        nv.customLayout = tiles || []
        needGL = true
      }
      // volumes, in role order
      const mine = layers.filter((s) => s.viewports.includes(vp.index) && s.visible)
      const vols = mine
        .filter((s) => s.kind === 'volume')
        .map((s) => ({ s, it: this.store.items.get(s.id) }))
        .filter(({ s, it }) => it && it.kind === 'volume')
        .sort((a, b) => ROLE_ORDER[a.s.role] - ROLE_ORDER[b.s.role])
      // each layer's look in this viewport (the model's window is the active viewport's)
      for (const v of vols) {
        const eff = effective(v.s, vp.index)
        const win = bg && v.s.id === bg.id && this.windowIsModel(v.s, vp.index) ? m.get('window') : eff.window
        const key = JSON.stringify([eff.colormap, eff.opacity, win, eff.color, eff.outline, eff.role])
        v.vol = this.store.volFor(v.it, v.s, vp.index)
        this.store.applyLook(v.vol, eff, win, key)
        if (vp.looks.get(v.vol) !== key || dirty.has(v.s.id)) {
          vp.looks.set(v.vol, key)
          needGL = true
        }
      }
      const volKey = vols.map(({ s, it, vol }) => `${vol.id}:${it.version}`).concat(this.locals.map((l) => l.id)).join(',')
      if (volKey !== vp.volIds) {
        vp.volIds = volKey
        nv.volumes = vols.map(({ vol }) => vol).concat(this.locals.map((l) => l.vol))
        nv.back = nv.volumes.length ? nv.volumes[0] : null
        nv.overlays = nv.volumes.slice(1)
        needGL = true
      }
      const waiting = mine.some((s) => !this.store.items.get(s.id))
      vp.hint.style.display = mine.length || waiting || this.locals.length ? 'none' : ''
      vp.div.dataset.empty = String(!mine.length)
      // surfaces and fibers (GL objects are per canvas)
      const wantMeshes = mine.filter((s) => s.kind !== 'volume' && this.store.items.get(s.id))
      for (const [id, entry] of vp.meshes) {
        const s = wantMeshes.find((w) => w.id === id)
        if (!s || this.store.items.get(id).version !== entry.version) {
          nv.meshes = nv.meshes.filter((x) => x !== entry.mesh)
          vp.meshes.delete(id)
          needGL = true
        }
      }
      for (const s of wantMeshes) {
        const it = this.store.items.get(s.id)
        let entry = vp.meshes.get(s.id)
        if (!entry) {
          const c = s.color || [255, 255, 255]
          const rgba = new Uint8Array([c[0], c[1], c[2], it.kind === 'tract' ? 0 : 255])
          const mesh = new NVMesh(it.pts, it.idx, s.name, rgba, s.opacity, true, nv.gl)
          entry = { version: it.version, mesh, props: '' }
          vp.meshes.set(s.id, entry)
          nv.meshes = [...nv.meshes, mesh]
          needGL = true
        }
        const key = JSON.stringify([s.opacity, s.color])
        if (key !== entry.props) {
          entry.props = key
          entry.mesh.opacity = s.opacity
          if (s.color && it.kind === 'mesh') entry.mesh.rgba255 = new Uint8Array([...s.color, 255])
          if (it.kind === 'mesh') entry.mesh.updateMesh(nv.gl)
          needGL = true
        }
      }
      // crosshair: the one world position shared by all viewports (needs only the NVImages)
      if (nv.volumes.length && pos) {
        const cur = vp.mm()
        if (Math.hypot(cur[0] - pos[0], cur[1] - pos[1], cur[2] - pos[2]) > 1e-4) {
          nv.scene.crosshairPos = nv.mm2frac([pos[0], pos[1], pos[2]])
          needDraw = true
        }
      }
      if (needGL) {
        const t0 = performance.now()
        nv.updateGLVolume() // draws the scene too
        vp.div.dataset.glMs = String(Math.round(performance.now() - t0))
      } else if (needDraw) {
        nv.drawScene()
      }
    }
    this.updateStatus(layers, pos)
    this.controls.update()
    if (!this.store.pending(layers)) this.acknowledge()
  }

  // The tiles of one shared canvas for this layout, or null: every viewport shows the same
  // layers (the usual case: Viewer(path, layout='2x2')) and is a plain slice or 3-D view.
  sharedTiles (layers, sliceTypes, rows, cols, n) {
    if (n < 2) return null
    const types = sliceTypes.slice(0, n)
    if (types.length < n || types.some((t) => !['axial', 'coronal', 'sagittal', 'render'].includes(t))) return null
    // viewports that draw a layer with a look of their own cannot share the canvas
    const ids = (i) => layers.filter((s) => s.viewports.includes(i))
      .map((s) => `${s.id}:${JSON.stringify((s.per_viewport || {})[String(i)] || {})}`).join(',')
    const first = ids(0)
    for (let i = 1; i < n; i++) if (ids(i) !== first) return null
    return types.map((t, i) => ({
      sliceType: SLICE[t],
      position: [(i % cols) / cols, Math.floor(i / cols) / rows, 1 / cols, 1 / rows]
    }))
  }

  acknowledge () {
    const seq = this.model.get('seq')
    if (seq === this.lastAck) {
      this.root.dataset.ack = String(seq)
      return
    }
    // Wait until the GPU has really drawn: drawing only queues commands, and on a CPU
    // renderer (SwiftShader) the pixels of a large volume appear seconds later.
    const px = new Uint8Array(4)
    for (const vp of this.viewports) {
      if (vp.nv && vp.div.style.display !== 'none') vp.nv.gl.readPixels(0, 0, 1, 1, vp.nv.gl.RGBA, vp.nv.gl.UNSIGNED_BYTE, px)
    }
    this.root.dataset.ack = String(seq)
    this.lastAck = seq
    this.model.set('ack', seq)
    this.model.set('frame', this.frames)
    this.model.save_changes()
  }

  updateStatus (layers, pos) {
    const w = this.model.get('window')
    const v = this.model.get('value')
    const fmt = (x) => (Math.round(x * 10) / 10).toFixed(1)
    const p = pos ? pos.map(fmt).join(', ') : ''
    const val = v === null || v === undefined ? '–' : Number(v).toPrecision(5)
    const draw = this.model.get('drawing') ? '  ✎ ROI edit' : ''
    const err = this.model.get('error')
    this.status.textContent = `(${p}) mm = ${val}   window level ${fmt(w[0])} width ${fmt(w[1])}${draw}${err ? '   ⚠ ' + err : ''}`
    this.root.dataset.position = JSON.stringify(pos)
    this.root.dataset.window = JSON.stringify(w)
    this.root.dataset.drawing = String(!!this.model.get('drawing'))
    this.root.dataset.layers = String(layers.length)
  }

  // -------------------------------------------------------------- user actions -> model

  saveSoon () {
    if (this.saveTimer !== null) return
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null
      this.model.save_changes()
    }, 20)
  }

  setActive (index) {
    if (this.model.get('active_viewport') === index) return
    this.model.set('active_viewport', index)
    const bg = this.activeBackground(this.model.get('layers') || [])
    const win = bg && effective(bg, index).window
    if (win) this.model.set('window', win)
  }

  // The viewport a canvas stands for: its own, or the tile last pressed on a shared canvas.
  viewportOf (vp) {
    return this.root.dataset.shared === 'true' && vp.tile >= 0 ? vp.tile : vp.index
  }

  // Does the model's `window` (the active viewport's) say how viewport `index` draws `spec`?
  // Yes in the active viewport, and in every viewport without a window of its own unless
  // the active one has its own.
  windowIsModel (spec, index) {
    const active = this.model.get('active_viewport')
    const own = (i) => 'window' in ((spec.per_viewport || {})[String(i)] || {})
    return index === active || (!own(active) && !own(index))
  }

  onLocation (index, loc) {
    const mm = [loc.mm[0], loc.mm[1], loc.mm[2]]
    this.setActive(index)
    this.model.set('position', mm)
    this.saveSoon()
    this.schedule()
  }

  onMouseUp (index) {
    // middle-drag windowing / double-click reset change the background's window inside Niivue
    const vol = this.viewports[index].nv && this.viewports[index].nv.volumes[0]
    if (!vol) return
    this.setActive(this.viewportOf(this.viewports[index]))
    const level = (vol.cal_min + vol.cal_max) / 2
    const width = vol.cal_max - vol.cal_min
    const w = this.model.get('window')
    if (width > 0 && (Math.abs(w[0] - level) > 1e-6 || Math.abs(w[1] - width) > 1e-6)) {
      this.model.set('window', [level, width])
      this.saveSoon()
    }
  }

  onKey (e) {
    if (e.target.closest && e.target.closest('input, select, textarea, button')) return // typing in a control
    if (this.tools.key(e)) return
    // Keys Python acts on (the ROI tool's undo/redo, the desk's study stepping) go to the
    // kernel as {type: 'key'}; the page does nothing else with them.
    const k = e.key.length === 1 ? e.key.toLowerCase() : e.key
    const undoKey = (e.ctrlKey || e.metaKey) && !e.altKey && (k === 'z' || k === 'y')
    const stepKey = !(e.ctrlKey || e.altKey || e.metaKey) && (k === 'ArrowUp' || k === 'ArrowDown')
    if (undoKey || stepKey) {
      e.preventDefault()
      e.stopPropagation()
      this.model.send({ type: 'key', key: k, ctrl: e.ctrlKey || e.metaKey, shift: e.shiftKey, alt: e.altKey })
      return
    }
    if (e.ctrlKey || e.altKey || e.metaKey) return
    const presets = this.presets()
    if (Object.prototype.hasOwnProperty.call(presets, e.key)) {
      e.preventDefault()
      e.stopPropagation()
      const w = presets[e.key].window
      if (w) {
        this.model.set('window', w)
        this.model.save_changes()
        this.schedule()
      }
    } else if (k === 's') {
      e.preventDefault()
      e.stopPropagation()
      this.controls.toggleLayers()
    } else if (k === 'x' || k === 'y') {
      e.preventDefault()
      e.stopPropagation()
      this.scrollStep = Math.min(8, Math.max(1, k === 'y' ? this.scrollStep * 2 : this.scrollStep / 2))
      this.root.dataset.scrollStep = String(this.scrollStep)
    } else if (e.key === ' ') {
      e.preventDefault()
      e.stopPropagation()
      this.model.set('drawing', !this.model.get('drawing'))
      this.model.save_changes()
      this.schedule()
    }
  }

  // Local files dropped on the viewer are read and drawn in this page only (nothing is
  // uploaded): over every viewport, the first as a grey background if there is none, the
  // others as warm overlays. Python hears the names ({type: 'dropped'}), not the bytes.
  async onDrop (e) {
    e.preventDefault()
    e.stopPropagation()
    const files = [...((e.dataTransfer && e.dataTransfer.files) || [])]
    const names = []
    for (const file of files) {
      if (!/\.(nii|nii\.gz|mgz|mgh|nrrd|nhdr|img|hdr)$/i.test(file.name)) {
        this.store.fail(new Error(`cannot view ${file.name} dropped here: volumes only (.nii, .nii.gz, .mgz, .nrrd); open surfaces and fibers from Python`))
        continue
      }
      try {
        const first = !this.locals.length && !(this.model.get('layers') || []).some((s) => s.role === 'background')
        const vol = await NVImage.new(await file.arrayBuffer(), file.name, first ? 'gray' : 'warm', first ? 1 : 0.5)
        this.locals.push({ id: `local:${file.name}:${this.locals.length}`, name: file.name, vol })
        names.push(file.name)
      } catch (err) {
        this.store.fail(new Error(`cannot view ${file.name}: ${err.message || err}`))
      }
    }
    this.root.dataset.dropped = String(this.locals.length)
    if (names.length) this.model.send({ type: 'dropped', names })
    this.schedule()
  }

  // Window presets that fit the active background's modality: key -> {name, window}.
  // CT: the CT presets (keys 1-6, Hounsfield units); any modality: 0 = auto (2-98 %).
  presets () {
    const bg = this.activeBackground(this.model.get('layers') || [])
    const out = {}
    if (!bg) return out
    const all = this.model.get('window_presets') || {}
    for (const [key, p] of Object.entries(all)) {
      const auto = p.level === null || p.level === undefined
      if (!auto && bg.modality !== 'CT') continue
      out[key] = { name: p.name, window: auto ? bg.auto_window : [p.level, p.width] }
    }
    return out
  }

  // Double click on a slice: back to the window the image opened with. Niivue's own reset
  // (its robust range) never runs; in a 3-D tile Niivue's depth pick still does.
  onDoubleClick (vp, e) {
    const nv = vp.nv
    if (!nv) return
    const dpr = nv.uiData.dpr || 1
    if (nv.inRenderTile(e.offsetX * dpr, e.offsetY * dpr) >= 0) return
    e.preventDefault()
    e.stopImmediatePropagation()
    this.setActive(this.viewportOf(vp))
    const bg = this.activeBackground(this.model.get('layers') || [])
    if (!bg || !bg.open_window) return
    this.store.forgetLooks() // Niivue may hold another window
    this.model.set('window', bg.open_window)
    this.model.save_changes()
    this.schedule()
  }

  // ROI edit mode: mouse strokes go to Python as "draw" messages.
  bindPen (vp) {
    const c = vp.canvas
    const point = (e) => {
      const nv = vp.nv
      const r = c.getBoundingClientRect()
      const dpr = nv.uiData.dpr || 1
      const x = (e.clientX - r.left) * dpr
      const y = (e.clientY - r.top) * dpr
      const frac = nv.canvasPos2frac([x, y])
      if (frac[0] < 0) return null
      const mm = nv.frac2mm(frac)
      const tile = nv.tileIndex(x, y)
      const axCorSag = tile >= 0 ? nv.screenSlices[tile].axCorSag : -1
      return { mm: [mm[0], mm[1], mm[2]], axis: AXIS_NAMES[axCorSag] || '' }
    }
    const send = (phase, pts, e) => {
      this.model.send({
        type: 'draw',
        phase,
        buttons: this.stroke ? this.stroke.buttons : e.buttons,
        viewport: this.viewportOf(vp),
        axis: this.stroke ? this.stroke.axis : '',
        points: pts,
        shift: e.shiftKey,
        ctrl: e.ctrlKey
      })
    }
    const flush = (e) => {
      if (!this.stroke || !this.stroke.points.length) return
      const pts = this.stroke.points
      this.stroke.points = []
      send('move', pts, e)
    }
    c.addEventListener('mousedown', (e) => {
      if (!this.model.get('drawing') || e.shiftKey || !vp.nv) return
      e.preventDefault()
      e.stopImmediatePropagation()
      c.focus()
      const p = point(e)
      this.setActive(this.viewportOf(vp))
      this.stroke = { buttons: e.buttons || (e.button === 2 ? 2 : 1), axis: p ? p.axis : '', points: [], timer: null }
      send('down', p ? [p.mm] : [], e)
    }, { capture: true })
    c.addEventListener('mousemove', (e) => {
      if (!this.stroke) return
      e.stopImmediatePropagation()
      const p = point(e)
      if (p) this.stroke.points.push(p.mm)
      if (this.stroke.timer === null) {
        this.stroke.timer = setTimeout(() => {
          if (this.stroke) { this.stroke.timer = null; flush(e) }
        }, 30)
      }
    }, { capture: true })
    const up = (e) => {
      if (!this.stroke) return
      e.stopImmediatePropagation()
      flush(e)
      send('up', [], e)
      clearTimeout(this.stroke.timer)
      this.stroke = null
    }
    c.addEventListener('mouseup', up, { capture: true })
    c.addEventListener('mouseleave', up, { capture: true })
    // A left click outside ROI edit (no drag): Niivue has moved the crosshair by the time
    // 'click' fires; Python gets the world position as {type: 'click'} (the marker tool).
    let downAt = null
    c.addEventListener('mousedown', (e) => { downAt = e.button === 0 ? [e.clientX, e.clientY] : null })
    c.addEventListener('click', (e) => {
      const at = downAt
      downAt = null
      if (!at || this.model.get('drawing') || !vp.nv || !vp.nv.volumes.length) return
      if (Math.hypot(e.clientX - at[0], e.clientY - at[1]) > 4) return
      const p = point(e)
      const msg = { type: 'click', viewport: this.viewportOf(vp), axis: p ? p.axis : '', shift: e.shiftKey, ctrl: e.ctrlKey }
      // the crosshair as Niivue placed it (snapped to the slice shown), once it has
      setTimeout(() => this.model.send({ ...msg, points: [vp.mm()] }), 0)
    })
    c.addEventListener('wheel', (e) => {
      if (!e.ctrlKey && vp.nv && this.scrollStep > 1) { // keys x / y: several slices a step
        e.stopImmediatePropagation()
        for (let i = 0; i < this.scrollStep; i++) vp.nv.wheelListener(e)
        return
      }
      if (!e.ctrlKey || !vp.nv) return // NORA: ctrl + wheel zooms, plain wheel changes slice
      e.preventDefault()
      e.stopImmediatePropagation()
      const nv = vp.nv
      const z = nv.scene.pan2Dxyzmm[3] * (e.deltaY < 0 ? 1.1 : 1 / 1.1)
      nv.scene.pan2Dxyzmm[3] = Math.min(Math.max(z, 0.1), 50)
      nv.drawScene()
    }, { capture: true, passive: false })
  }
}

// ------------------------------------------------------------------ tool modules (tools.js)

const MOUSE_EVENTS = ['mousedown', 'mousemove', 'mouseup', 'click', 'dblclick', 'wheel', 'contextmenu']

// What a tool module's install(ctx) gets (the contract is documented in tools.js).
class ToolHooks {
  constructor (view) {
    this.view = view
    this.mouse = new Map(MOUSE_EVENTS.map((t) => [t, []]))
    this.keys = []
    this.viewportFns = []
    this.uninstall = []
  }

  info (vp) {
    return { index: vp.index, nv: vp.nv, canvas: vp.canvas }
  }

  context () {
    const view = this.view
    const model = view.model
    return {
      model,
      root: view.root,
      viewports: () => view.viewports.filter((vp) => vp.nv && vp.div.style.display !== 'none').map((vp) => this.info(vp)),
      onViewport: (fn) => {
        this.viewportFns.push(fn)
        for (const vp of view.viewports) if (vp.nv) fn(this.info(vp))
      },
      onMouse: (type, fn) => {
        if (!this.mouse.has(type)) throw new Error(`onMouse: unknown event type ${type}; use one of ${MOUSE_EVENTS}`)
        this.mouse.get(type).push(fn)
      },
      onKey: (fn) => { this.keys.push(fn) },
      onMessage: (fn) => {
        const h = (msg, buffers) => fn(msg, buffers || [])
        model.on('msg:custom', h)
        this.uninstall.push(() => model.off('msg:custom', h))
      },
      send: (msg, buffers) => model.send(msg, undefined, buffers),
      redraw: () => view.schedule()
    }
  }

  install () {
    for (const tool of TOOLS) {
      try {
        const undo = tool.install(this.context())
        if (typeof undo === 'function') this.uninstall.push(undo)
      } catch (e) {
        this.view.store.fail(e)
      }
    }
  }

  // a viewport's Niivue exists: tools get it, and see its canvas's mouse events before Niivue
  attach (vp) {
    for (const [type, fns] of this.mouse) {
      vp.canvas.addEventListener(type, (e) => {
        for (const fn of fns) {
          if (fn(e, this.info(vp))) {
            e.preventDefault()
            e.stopImmediatePropagation()
            return
          }
        }
      }, { capture: true, passive: false })
    }
    for (const fn of this.viewportFns) fn(this.info(vp))
  }

  key (e) {
    for (const fn of this.keys) {
      if (fn(e)) {
        e.preventDefault()
        e.stopPropagation()
        return true
      }
    }
    return false
  }

  remove () {
    for (const undo of this.uninstall.splice(0)) {
      try { undo() } catch (e) { console.error('[nora viewer] tool cleanup', e) }
    }
  }
}

// ------------------------------------------------------------------ anywidget entry points

function initialize ({ model }) {
  const uid = model.get('_uid')
  const store = new Store(model)
  STORES.set(uid, store)
  const onMsg = (msg, buffers) => store.onMessage(msg, buffers || [])
  model.on('msg:custom', onMsg)
  model.send({ type: 'ready', have: store.have() })
  return () => {
    model.off('msg:custom', onMsg)
    STORES.delete(uid)
  }
}

function render ({ model, el }) {
  const store = STORES.get(model.get('_uid'))
  const view = new View(model, el, store)
  store.views.add(view)
  view.tools.install()
  const onChange = () => view.schedule()
  model.on('change', onChange)
  view.schedule()
  return () => {
    store.views.delete(view)
    view.tools.remove()
    for (const vp of view.viewports) {
      if (vp.nv) {
        try { vp.nv.cleanup() } catch (e) { /* already gone */ }
        const ext = vp.nv.gl && vp.nv.gl.getExtension('WEBGL_lose_context')
        if (ext) ext.loseContext()
      }
    }
  }
}

export default { initialize, render }

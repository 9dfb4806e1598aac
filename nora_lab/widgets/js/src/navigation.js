// The navigation tool in the page (nora_lab.widgets.navtool.NavigationTool).
//
// Python tells the page {type: 'nav', active, layers, matrix} (matrix: 16 numbers, a
// row-major 4x4 world transform). While active, ctrl + mouse on a viewport moves the
// moving layers live: ctrl+left drag translates in the slice's plane, ctrl+right drag
// rotates about the crosshair around the slice's normal, ctrl+shift+left drag scales
// about the crosshair. With placing on ({placing, markers} in the same message), ctrl+left
// places or grabs a Gaussian marker and the drag sets its displacement
// ({type: 'nav_marker', phase, index (-1: new), centre, vector}). The page applies the matrix to the layers' NVImages itself
// (affine = matrix x the affine they arrived with) and reports the drag to Python as
// {type: 'nav_drag', phase: 'down' | 'move' | 'end', matrix}.
// For tests and benchmarks the viewer's root element carries data-nav-matrix, data-nav-affine
// (the first moving volume's affine as drawn) and data-nav-ms (milliseconds from the last
// mouse event to its frame read back from the GPU).
import { forModel, hello, worldAt, sliceAxis, readBack } from './toolkit.js'

const I4 = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]

export function mul (a, b) { // row-major 4x4 product a x b
  const out = new Array(16).fill(0)
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < 4; c++) {
      let s = 0
      for (let k = 0; k < 4; k++) s += a[r * 4 + k] * b[k * 4 + c]
      out[r * 4 + c] = s
    }
  }
  return out
}

export function translation (d) {
  return [1, 0, 0, d[0], 0, 1, 0, d[1], 0, 0, 1, d[2], 0, 0, 0, 1]
}

// about the unit axis n by angle t (radians, right-hand rule), around centre c
export function rotationAbout (n, t, c) {
  const [x, y, z] = n
  const co = Math.cos(t)
  const si = Math.sin(t)
  const k = 1 - co
  const r = [
    co + x * x * k, x * y * k - z * si, x * z * k + y * si, 0,
    y * x * k + z * si, co + y * y * k, y * z * k - x * si, 0,
    z * x * k - y * si, z * y * k + x * si, co + z * z * k, 0,
    0, 0, 0, 1
  ]
  return mul(translation(c), mul(r, translation([-c[0], -c[1], -c[2]])))
}

export function scalingAbout (s, c) {
  const m = [s, 0, 0, 0, 0, s, 0, 0, 0, 0, s, 0, 0, 0, 0, 1]
  return mul(translation(c), mul(m, translation([-c[0], -c[1], -c[2]])))
}

const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]

// The matrix of a drag from world point p0 to p1 on a slice with normal n.
export function dragMatrix (kind, p0, p1, centre, n) {
  if (kind === 'translate') return translation(sub(p1, p0))
  const u = sub(p0, centre)
  const v = sub(p1, centre)
  // project on the slice's plane
  const pu = sub(u, n.map((x) => x * dot(u, n)))
  const pv = sub(v, n.map((x) => x * dot(v, n)))
  const lu = Math.hypot(...pu)
  const lv = Math.hypot(...pv)
  if (lu < 1e-6 || lv < 1e-6) return I4.slice()
  if (kind === 'scale') return scalingAbout(lv / lu, centre)
  const angle = Math.atan2(dot(n, cross(pu, pv)), dot(pu, pv))
  return rotationAbout(n, angle, centre)
}

const NORMALS = [[0, 0, 1], [0, 1, 0], [1, 0, 0]] // axial, coronal, sagittal

function state (model) {
  return forModel(model, 'nav', () => ({ active: false, placing: false, markers: [], layers: [], matrix: I4.slice(), drag: null }))
}

// The NVImages of the moving layers shown by one Niivue.
function movingVolumes (model, nv, ids) {
  const names = new Set((model.get('layers') || []).filter((s) => ids.includes(s.id)).map((s) => s.name))
  return nv.volumes.filter((v) => names.has(v.name))
}

const round = (a) => a.map((x) => Math.round(x * 1e4) / 1e4)

// The moving volumes changed place: Niivue resamples every overlay onto the background's
// grid (one overlay texture holds them all), but the background itself stays as it is,
// so only layers 1.. are refreshed – unless the background is one of the moving.
// `live` (a drag frame): only the slices on screen are resampled (see onScreenOnly).
function redraw (nv, vols, live) {
  if (vols.includes(nv.volumes[0])) return nv.updateGLVolume()
  const refresh = () => { for (let i = 1; i < nv.volumes.length; i++) nv.refreshLayers(nv.volumes[i], i) }
  if (live) onScreenOnly(nv, refresh)
  else refresh()
  nv.drawScene()
}

// Run Niivue's overlay resampling (refreshLayers) so that it computes only the voxels of
// the overlay texture that the 2-D slices on screen show: the 3 layers around the
// crosshair's axial slice, and in every other layer the 3 rows (coronal) and 3 columns
// (sagittal) around it. Niivue renders the texture layer by layer (framebufferTextureLayer,
// then drawArrays over the whole layer); here each draw is cut by scissor rectangles, so
// a drag frame shades ~3 layers instead of all of them (the rest of the texture is left
// empty until the drag ends and the whole texture is resampled). Views that show other
// voxels (3-D render, mosaic, oblique) get the full resampling.
export function onScreenOnly (nv, refresh) {
  const gl = nv.gl
  const dims = nv.back && nv.back.dims
  const shown = new Set((nv.screenSlices || []).map((s) => s.axCorSag))
  const planar = shown.size > 0 && [...shown].every((a) => a >= 0 && a <= 2)
  if (!dims || !planar || nv.opts.sliceMosaicString) return refresh()
  const [nx, ny, nz] = [dims[1], dims[2], dims[3]]
  const c = nv.scene.crosshairPos
  const at = (f, n) => Math.min(Math.max(Math.floor(f * n), 0), n - 1)
  const [xc, yc, zc] = [at(c[0], nx), at(c[1], ny), at(c[2], nz)]
  const rects = []
  if (shown.has(1)) rects.push([0, yc - 1, nx, 3]) // coronal: rows y = yc ± 1
  if (shown.has(2)) rects.push([xc - 1, 0, 3, ny]) // sagittal: columns x = xc ± 1
  const layerOf = gl.framebufferTextureLayer
  const draw = gl.drawArrays
  let layer = -1
  gl.framebufferTextureLayer = function (target, attachment, tex, level, l) {
    layer = l
    return layerOf.call(gl, target, attachment, tex, level, l)
  }
  gl.drawArrays = function (mode, first, count) {
    if (layer < 0 || (shown.has(0) && Math.abs(layer - zc) <= 1)) return draw.call(gl, mode, first, count)
    gl.enable(gl.SCISSOR_TEST)
    for (const r of rects) {
      gl.scissor(...r)
      draw.call(gl, mode, first, count)
    }
    gl.disable(gl.SCISSOR_TEST)
  }
  try {
    refresh()
  } finally {
    delete gl.framebufferTextureLayer // back to the prototype's
    delete gl.drawArrays
  }
}

// Put the matrix on every moving volume of every viewport; returns how many it moved.
// `live`: a drag frame (only what is on screen is resampled).
export function applyMatrix (ctx, live = false) {
  const st = state(ctx.model)
  const moved = []
  for (const { nv } of ctx.viewports()) {
    if (!nv) continue
    const vols = movingVolumes(ctx.model, nv, st.layers)
    for (const vol of vols) {
      if (!vol.__noraBase) vol.__noraBase = vol.getAffine().flat()
      const a = mul(st.matrix, vol.__noraBase)
      vol.setAffine([a.slice(0, 4), a.slice(4, 8), a.slice(8, 12), a.slice(12, 16)])
      if (!moved.includes(vol)) moved.push(vol)
    }
    if (vols.length) redraw(nv, vols, live)
  }
  ctx.root.dataset.navMatrix = JSON.stringify(round(st.matrix))
  if (moved.length) ctx.root.dataset.navAffine = JSON.stringify(round(moved[0].getAffine().flat()))
  return moved.length
}

export function install (ctx) {
  const { model, root } = ctx
  const st = state(model)
  let timer = null
  let retry = null
  const report = (phase) => ctx.send({ type: 'nav_drag', phase, matrix: st.matrix })
  const apply = (tries) => { // a layer may still be arriving: try again shortly
    clearTimeout(retry)
    const want = new Set((model.get('layers') || []).filter((s) => st.layers.includes(s.id)).map((s) => s.name)).size
    if (applyMatrix(ctx) < want && tries > 0) retry = setTimeout(() => apply(tries - 1), 100)
  }
  ctx.onMessage((msg) => {
    if (!msg || msg.type !== 'nav') return
    st.active = !!msg.active
    st.placing = !!msg.placing
    st.markers = msg.markers || []
    root.dataset.navMarkers = String(st.markers.length)
    st.layers = msg.layers || []
    if (!st.drag) st.matrix = msg.matrix
    root.dataset.navActive = String(st.active)
    apply(30)
  })
  ctx.onViewport(() => apply(30))
  ctx.onMouse('mousedown', (e, { nv, canvas }) => {
    if (st.active && st.placing && e.ctrlKey && e.button === 0 && nv) return markerDown(e, nv, canvas)
    if (!st.active || !e.ctrlKey || !st.layers.length || !nv) return false
    const p = worldAt(nv, canvas, e)
    if (!p) return false
    e.preventDefault()
    const kind = e.button === 2 ? 'rotate' : (e.shiftKey ? 'scale' : 'translate')
    const pos = model.get('position') || [0, 0, 0]
    st.drag = { kind, nv, canvas, p0: p.mm, m0: st.matrix.slice(), centre: [pos[0], pos[1], pos[2]], n: NORMALS[sliceAxis(nv, p)] }
    report('down')
    return true
  })
  // Gaussian markers ('✚ markers' on): a press grabs the marker whose centre is within
  // 6 mm or places a new one; the drag sets its displacement (centre -> mouse).
  let marker = null
  const markerDown = (e, nv, canvas) => {
    const p = worldAt(nv, canvas, e)
    if (!p) return false
    e.preventDefault()
    let index = -1
    let best = 6
    st.markers.forEach((m, i) => {
      const d = Math.hypot(m[0] - p.mm[0], m[1] - p.mm[1], m[2] - p.mm[2])
      if (d <= best) { best = d; index = i }
    })
    const centre = index >= 0 ? st.markers[index].slice(0, 3) : p.mm
    if (index < 0) {
      index = st.markers.length
      st.markers.push([...p.mm, 0, 0, 0, 0])
      ctx.send({ type: 'nav_marker', phase: 'down', index: -1, centre, vector: [0, 0, 0] })
    }
    marker = { index, centre, nv, canvas, vector: [0, 0, 0], timer: null }
    return true
  }
  const markerSend = (phase) => {
    ctx.send({ type: 'nav_marker', phase, index: marker.index, centre: marker.centre, vector: marker.vector })
  }
  ctx.onMouse('mousemove', (e) => {
    if (marker) {
      const p = worldAt(marker.nv, marker.canvas, e)
      if (p) marker.vector = [0, 1, 2].map((k) => p.mm[k] - marker.centre[k])
      if (marker.timer === null) marker.timer = setTimeout(() => { if (marker) { marker.timer = null; markerSend('move') } }, 80)
      return true
    }
    const d = st.drag
    if (!d) return false
    if (e.buttons === 0) return up() // released outside the canvas
    const p = worldAt(d.nv, d.canvas, e)
    if (!p) return true
    d.at = { mm: p.mm, t: e.timeStamp }
    // one update per animation frame with the latest mouse position: a slow redraw (a
    // large volume on a CPU renderer) drops moves instead of queueing them
    if (d.frame === undefined) {
      d.frame = requestAnimationFrame(() => {
        d.frame = undefined
        if (st.drag !== d) return
        st.matrix = mul(dragMatrix(d.kind, d.p0, d.at.mm, d.centre, d.n), d.m0)
        applyMatrix(ctx, true)
        readBack(d.nv)
        root.dataset.navMs = String(performance.now() - d.at.t)
      })
    }
    if (timer === null) timer = setTimeout(() => { timer = null; if (st.drag) report('move') }, 50)
    return true
  })
  const up = () => {
    if (marker) {
      clearTimeout(marker.timer)
      markerSend('end')
      marker = null
      return true
    }
    const d = st.drag
    if (!d) return false
    if (d.frame !== undefined) { // the last move
      cancelAnimationFrame(d.frame)
      st.matrix = mul(dragMatrix(d.kind, d.p0, d.at.mm, d.centre, d.n), d.m0)
    }
    if (d.at) applyMatrix(ctx) // the whole overlay resampled once, at the end of the drag
    st.drag = null
    clearTimeout(timer)
    timer = null
    report('end')
    return true
  }
  ctx.onMouse('mouseup', up)
  ctx.onMouse('contextmenu', (e) => {
    if (!(st.active && e.ctrlKey)) return false
    e.preventDefault()
    return true
  })
  hello(ctx)
  return () => { clearTimeout(timer); clearTimeout(retry) }
}

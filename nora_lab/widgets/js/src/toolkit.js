// What the tool modules (navigation.js, fibers.js) share: per-model state, the world
// point under the mouse, the slice orientation under it, and a GPU read-back that makes
// a frame's timing real (drawing only queues commands).

const STATE = new WeakMap() // model -> {tool name -> state}
const GREETED = new WeakSet() // ctx

// Ask Python's tools for their state once per rendered view ({type: 'tools_ready'}):
// what they sent before the view existed did not reach it.
export function hello (ctx) {
  if (GREETED.has(ctx)) return
  GREETED.add(ctx)
  ctx.send({ type: 'tools_ready' })
}

export function forModel (model, name, make) {
  let all = STATE.get(model)
  if (!all) {
    all = {}
    STATE.set(model, all)
  }
  if (!all[name]) all[name] = make()
  return all[name]
}

// {mm: [x, y, z], tile, x, y} of the mouse on a Niivue canvas, or null outside every slice.
export function worldAt (nv, canvas, e) {
  const r = canvas.getBoundingClientRect()
  const dpr = nv.uiData.dpr || 1
  const x = (e.clientX - r.left) * dpr
  const y = (e.clientY - r.top) * dpr
  const frac = nv.canvasPos2frac([x, y])
  if (frac[0] < 0) return null
  const mm = nv.frac2mm(frac)
  return { mm: [mm[0], mm[1], mm[2]], tile: nv.tileIndex(x, y), x, y }
}

// 0 axial, 1 coronal, 2 sagittal: the slice under a point from worldAt
export function sliceAxis (nv, p) {
  if (!p || p.tile < 0 || !nv.screenSlices[p.tile]) return 0
  const a = nv.screenSlices[p.tile].axCorSag
  return a >= 0 && a <= 2 ? a : 0
}

// CSS pixels per mm on the slice under (x, y) (device pixels from worldAt)
export function pixelsPerMm (nv, p) {
  const dpr = nv.uiData.dpr || 1
  const a = nv.frac2mm(nv.canvasPos2frac([p.x, p.y]))
  const b = nv.frac2mm(nv.canvasPos2frac([p.x + 20 * dpr, p.y]))
  const d = Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2])
  return d > 0 ? 20 / d : 1
}

const PX = new Uint8Array(4)

export function readBack (nv) {
  nv.gl.readPixels(0, 0, 1, 1, nv.gl.RGBA, nv.gl.UNSIGNED_BYTE, PX)
}

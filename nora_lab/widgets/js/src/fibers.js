// The fiber tool in the page (nora_lab.widgets.fibertool.FiberTool).
//
// Python tells the page {type: 'fiber', active, radius, selected, count}. While a
// tractogram is loaded, holding shift over a viewport shows a yellow sphere (its
// cross-section on the slice) following the mouse; shift + wheel changes its radius;
// shift + click sends {type: 'fiber_sphere', centre, radius} and Python selects the
// fibers through it (and redraws the selection and the live maps).
// While the sphere moves, its place goes to Python as {type: 'fiber_hover', seq, centre,
// radius} (centre null: the sphere is gone) and the live maps show what a click there
// would select. Throttled by the kernel and the page themselves: one place in flight at a
// time, the next (always the latest) sent when Python's answer ({type: 'fiber', hover:
// seq}) has arrived and the viewer has drawn the state it brought (its ack caught up with
// the model's seq), at least HOVER_MS after the last; or after HOVER_TIMEOUT_MS without
// an answer, DRAW_TIMEOUT_MS without the drawing.
// data-fiber-selected / data-fiber-count / data-fiber-preview (-1: none) / data-fiber-hover
// (the last place Python answered) on the viewer's root say what Python holds;
// data-fiber-hover-event: the timeStamp of the mouse event whose place was answered last;
// data-sphere-ms is the time from the last mouse event to the sphere's drawn frame.
import { forModel, hello, worldAt, pixelsPerMm } from './toolkit.js'

const HOVER_MS = 100
// long: a kernel that answers late must not get a second place to compute meanwhile
const HOVER_TIMEOUT_MS = 10000
const DRAW_TIMEOUT_MS = 10000

function state (model) {
  return forModel(model, 'fiber', () => ({ active: false, radius: 5 }))
}

// The sphere's places to Python, at most one in flight; `want` is the latest.
function hoverSender (ctx) {
  const h = { seq: 0, inflight: 0, sentAt: 0, want: undefined, timer: null }
  const pump = () => {
    clearTimeout(h.timer)
    h.timer = null
    if (h.want === undefined) return
    const now = performance.now()
    if (h.inflight && now - h.sentAt < HOVER_TIMEOUT_MS) {
      h.timer = setTimeout(pump, HOVER_TIMEOUT_MS - (now - h.sentAt))
      return
    }
    const drawing = +ctx.root.dataset.ack < ctx.model.get('seq') // the maps not drawn yet
    if (!h.inflight && drawing && now - h.sentAt < DRAW_TIMEOUT_MS) {
      h.timer = setTimeout(pump, 50) // poll the viewer's ack (it has no event for it)
      return
    }
    if (now - h.sentAt < HOVER_MS) {
      h.timer = setTimeout(pump, HOVER_MS - (now - h.sentAt))
      return
    }
    const { centre, radius, t } = h.want
    h.want = undefined
    h.inflight = ++h.seq
    h.sentAt = now
    h.eventAt = t
    ctx.send({ type: 'fiber_hover', seq: h.seq, centre, radius })
  }
  return {
    place (centre, radius, t) { // null: the sphere is gone; t: the mouse event's timeStamp
      h.want = { centre, radius, t }
      pump()
    },
    answered (seq) {
      if (h.inflight && seq === h.inflight) {
        h.inflight = 0
        ctx.root.dataset.fiberHoverEvent = String(h.eventAt) // its mouse event (bench_tools)
      }
      pump()
    },
    stop () { clearTimeout(h.timer) }
  }
}

export function install (ctx) {
  const { model, root } = ctx
  const st = state(model)
  const rings = new Map() // canvas -> its ring
  let last = null // {p, nv, canvas} under the mouse with shift held
  let downAt = null
  const hover = hoverSender(ctx)
  const ring = (canvas) => {
    let r = rings.get(canvas)
    if (!r) {
      r = document.createElement('div')
      r.className = 'nora-fiber-sphere'
      Object.assign(r.style, {
        position: 'absolute', display: 'none', pointerEvents: 'none', borderRadius: '50%',
        border: '2px solid rgb(255, 230, 0)', background: 'rgba(255, 230, 0, 0.15)', boxSizing: 'border-box'
      })
      const host = canvas.parentElement
      if (host && getComputedStyle(host).position === 'static') host.style.position = 'relative'
      if (host) host.appendChild(r)
      rings.set(canvas, r)
    }
    return r
  }
  const hide = () => {
    for (const r of rings.values()) r.style.display = 'none'
    if (last) hover.place(null, st.radius, performance.now())
    last = null
  }
  const show = (e, nv, canvas) => {
    const t0 = performance.now()
    const p = nv && worldAt(nv, canvas, e)
    if (!p || !st.active || !e.shiftKey) { hide(); return false }
    for (const [c, r] of rings) if (c !== canvas) r.style.display = 'none'
    last = { p, nv, canvas }
    const dpr = nv.uiData.dpr || 1
    const rad = st.radius * pixelsPerMm(nv, p)
    const r = ring(canvas)
    Object.assign(r.style, {
      display: 'block', width: `${2 * rad}px`, height: `${2 * rad}px`,
      left: `${p.x / dpr + canvas.offsetLeft - rad}px`, top: `${p.y / dpr + canvas.offsetTop - rad}px`
    })
    r.dataset.mm = JSON.stringify(p.mm.map((x) => Math.round(x * 100) / 100))
    hover.place(p.mm, st.radius, e.timeStamp || performance.now())
    // the ring is drawn by the browser with its next frame
    requestAnimationFrame(() => { root.dataset.sphereMs = String(performance.now() - t0) })
    return true
  }
  ctx.onMessage((msg) => {
    if (!msg || msg.type !== 'fiber') return
    st.active = !!msg.active
    st.radius = msg.radius
    root.dataset.fiberSelected = String(msg.selected)
    root.dataset.fiberCount = String(msg.count)
    root.dataset.fiberRadius = String(msg.radius)
    root.dataset.fiberPreview = String(msg.preview ?? -1)
    if (msg.hover !== undefined) {
      root.dataset.fiberHover = String(msg.hover)
      hover.answered(msg.hover)
    }
    if (!st.active) hide()
  })
  ctx.onMouse('mousemove', (e, { nv, canvas }) => {
    if (!st.active) return false
    show(e, nv, canvas)
    return false // Niivue may still move its crosshair etc.
  })
  ctx.onMouse('mousedown', (e) => {
    if (!st.active || !e.shiftKey || e.button !== 0) return false
    e.preventDefault() // not Niivue's shift+drag measurement
    downAt = [e.clientX, e.clientY]
    return true
  })
  ctx.onMouse('mouseup', (e, { nv, canvas }) => {
    if (!downAt) return false
    const moved = Math.hypot(e.clientX - downAt[0], e.clientY - downAt[1])
    downAt = null
    const p = nv && worldAt(nv, canvas, e)
    if (p && moved <= 4) ctx.send({ type: 'fiber_sphere', centre: p.mm, radius: st.radius })
    return true
  })
  ctx.onMouse('wheel', (e, { nv, canvas }) => {
    if (!st.active || !e.shiftKey) return false
    e.preventDefault()
    const d = e.deltaY || e.deltaX
    st.radius = Math.min(Math.max(st.radius * (d < 0 ? 1.1 : 1 / 1.1), 0.5), 100)
    root.dataset.fiberRadius = String(st.radius)
    show(e, nv, canvas)
    return true
  })
  hello(ctx)
  const key = (e) => { if (e.key === 'Shift') hide() }
  window.addEventListener('keyup', key)
  return () => {
    window.removeEventListener('keyup', key)
    hover.stop()
    for (const r of rings.values()) r.remove()
  }
}

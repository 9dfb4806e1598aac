// The oblique MPR in the page (nora_lab.widgets.mprtool.ObliqueMPR).
//
// Python tells the page {type: 'mpr', active, viewport}. In that viewport, ctrl + left
// drag turns the reformatting plane and ctrl + shift + left drag moves it along its
// normal: the page sends the mouse's movement in CSS pixels, {type: 'mpr_drag', dx, dy,
// shift}, at most every 80 ms; Python turns the plane and sends the new slice.
import { forModel, hello } from './toolkit.js'

function state (model) {
  return forModel(model, 'mpr', () => ({ active: false, viewport: -1 }))
}

export function install (ctx) {
  const st = state(ctx.model)
  let drag = null // {x, y, dx, dy, shift, timer}
  const flush = () => {
    if (!drag) return
    drag.timer = null
    if (drag.dx === 0 && drag.dy === 0) return
    ctx.send({ type: 'mpr_drag', dx: drag.dx, dy: drag.dy, shift: drag.shift })
    drag.dx = 0
    drag.dy = 0
  }
  ctx.onMessage((msg) => {
    if (!msg || msg.type !== 'mpr') return
    st.active = !!msg.active
    st.viewport = msg.viewport
    ctx.root.dataset.mprViewport = String(st.active ? st.viewport : -1)
  })
  ctx.onMouse('mousedown', (e, vp) => {
    if (!st.active || !e.ctrlKey || e.button !== 0 || vp.index !== st.viewport) return false
    drag = { x: e.clientX, y: e.clientY, dx: 0, dy: 0, shift: e.shiftKey, timer: null }
    return true
  })
  ctx.onMouse('mousemove', (e) => {
    if (!drag) return false
    drag.dx += e.clientX - drag.x
    drag.dy += e.clientY - drag.y
    drag.x = e.clientX
    drag.y = e.clientY
    if (drag.timer === null) drag.timer = setTimeout(flush, 80)
    return true
  })
  ctx.onMouse('mouseup', () => {
    if (!drag) return false
    clearTimeout(drag.timer)
    flush()
    drag = null
    return true
  })
  hello(ctx)
  return () => { if (drag) clearTimeout(drag.timer) }
}

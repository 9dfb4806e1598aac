// The ROI assistant in the page (nora_lab.assist.panel.AssistPanel beside the ROI tool).
//
// Python tells the page {type: 'assist', mode} with mode one of off / point / scribble /
// box / lasso. While a mode is on, the left button is a positive interaction and the
// right button (or shift) a negative one, in any viewport:
//   point     a click                      -> {type: 'assist_add', kind: 'point', points: [mm]}
//   scribble  a drag: the path             -> kind 'scribble', points along it
//   box       a drag: two corners          -> kind 'box', points [start, end]
//   lasso     a drag: the closed outline   -> kind 'lasso', points along it
// each with positive and axis (0 axial, 1 coronal, 2 sagittal). Enter accepts the
// proposal, Escape resets ({type: 'assist_key', action}). The proposal comes back as an
// ordinary mask layer updated by diffs. data-assist-mode on the root says the mode.
import { forModel, hello, worldAt, sliceAxis } from './toolkit.js'

function state (model) {
  return forModel(model, 'assist', () => ({ mode: 'off' }))
}

export function install (ctx) {
  const { model, root } = ctx
  const st = state(model)
  let drag = null // {points, positive, axis, nv, canvas}
  root.dataset.assistMode = st.mode
  ctx.onMessage((msg) => {
    if (!msg || msg.type !== 'assist') return
    st.mode = msg.mode || 'off'
    root.dataset.assistMode = st.mode
    drag = null
  })
  const on = () => st.mode && st.mode !== 'off'
  ctx.onMouse('contextmenu', (e) => {
    if (!on()) return false
    e.preventDefault()
    return true
  })
  ctx.onMouse('mousedown', (e, { nv, canvas }) => {
    if (!on() || !nv || (e.button !== 0 && e.button !== 2)) return false
    const p = worldAt(nv, canvas, e)
    if (!p) return false
    e.preventDefault()
    drag = { points: [p.mm], positive: e.button === 0 && !e.shiftKey, axis: sliceAxis(nv, p), nv, canvas }
    return true
  })
  ctx.onMouse('mousemove', (e) => {
    if (!drag) return false
    const p = worldAt(drag.nv, drag.canvas, e)
    if (p) drag.points.push(p.mm)
    return true
  })
  ctx.onMouse('mouseup', () => {
    if (!drag) return false
    const d = drag
    drag = null
    let kind = st.mode
    let points = d.points
    if (kind === 'point' || points.length < 2) {
      kind = 'point'
      points = [points[points.length - 1]]
    } else if (kind === 'box') {
      points = [points[0], points[points.length - 1]]
    }
    ctx.send({ type: 'assist_add', kind, positive: d.positive, axis: d.axis, points })
    return true
  })
  ctx.onKey((e) => {
    if (!on() || (e.key !== 'Enter' && e.key !== 'Escape')) return false
    e.preventDefault()
    ctx.send({ type: 'assist_key', action: e.key === 'Enter' ? 'accept' : 'reset' })
    return true
  })
  hello(ctx)
  return () => { drag = null }
}

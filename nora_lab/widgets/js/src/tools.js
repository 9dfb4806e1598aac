// Tool modules of the viewer, listed in one place.
//
// A tool module (assist.js, navigation, fibers, MPR, ...) exports
//
//     export function install (ctx) { ...; return () => { /* optional: undo */ } }
//
// and is added to TOOLS below (import it here, not in viewer.js). viewer.js calls
// install(ctx) once for every rendered view of a Viewer, and the returned function when
// that view goes away. `ctx` is the whole contract between the viewer and a tool:
//
//   ctx.model                the anywidget model (get/set/save_changes/send/on)
//   ctx.root                 the viewer's root element (.nora-viewer)
//   ctx.viewports()          [{index, nv, canvas}] the Niivue instances drawn now
//   ctx.onViewport(fn)       fn({index, nv, canvas}) for each Niivue, now and when created
//   ctx.onMouse(type, fn)    fn(event, {index, nv, canvas}) before Niivue sees a mouse
//                            event on a canvas (type: mousedown/mousemove/mouseup/click/
//                            dblclick/wheel/contextmenu); return true to consume it
//   ctx.onKey(fn)            fn(event) before the viewer's own keys; return true to consume
//   ctx.onMessage(fn)        fn(msg, buffers) for custom messages from Python
//   ctx.send(msg, buffers)   a custom message to Python (Viewer.on_msg / a tool's handler)
//   ctx.redraw()             reconcile the page with the model and draw
//
// A tool never reaches into viewer.js's classes; what it needs goes into ctx.

import * as assist from './assist.js'
import * as mpr from './mpr.js'
import * as navigation from './navigation.js'
import * as fibers from './fibers.js'

export const TOOLS = [
  assist, // first: while its mode is on, the mouse is the assistant's
  mpr, // before navigation: in its own viewport ctrl + drag turns the plane
  navigation,
  fibers
]

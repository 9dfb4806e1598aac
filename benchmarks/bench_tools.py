"""Interaction latency of the viewer's tools in real JupyterLab + headless Chromium
(WebGL2 on SwiftShader, no GPU): mouse event → redrawn frame.

One viewer shows a 256×256×200 int16 phantom as the fixed image and the same volume as
a moving overlay, with the navigation tool (active) and the fiber tool (2000
streamlines) over it. Real mouse events (Playwright) drive, in the same page:

* the peer: a plain left drag moving the crosshair (Niivue's own redraw);
* ``nav_drag``: a ctrl + left drag moving the overlay live (its affine changed,
  the overlay re-resampled onto the background by Niivue — during the drag only the
  slices on screen, see ``onScreenOnly`` in js/src/navigation.js; the whole volume once
  at the drag's end, not timed here);
* ``fiber_sphere``: shift + mouse moving the selection sphere.
* ``fiber_live_maps``: the same with live maps on — from the mouse event whose sphere
  place Python answered (the maps of what a click there would select, 256×256×200
  visitation and terminal maps of the 2000 streamlines) to the page's next acknowledged
  (drawn) state; the page sends the latest place when the previous one is answered, so
  this includes the wait behind the place before it.

Each event is timed the same way: from the event's ``timeStamp`` to the first animation
frame after every handler ran (and after the frame callbacks they asked for: the
navigation tool draws a drag once per frame with the latest position), once the GPU has
finished (``readPixels``); the median of 25 moves per gesture (3 warm-up moves dropped).

    python benchmarks/bench_tools.py            # prints BENCH lines
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]

CELL = r'''
import numpy as np, ipywidgets as W
from nora_lab.widgets import Viewer, NavigationTool, FiberTool

shape = (256, 256, 200)
i, j, k = [np.linspace(-1, 1, n, dtype=np.float32) for n in shape]
r = np.sqrt(i[:, None, None] ** 2 + j[None, :, None] ** 2 + (1.2 * k[None, None, :]) ** 2)
vol = np.where(r < 0.85, 1200, -1000).astype(np.int16)
vol[r < 0.75] = 35
vol[(r < 0.3) & (i[:, None, None] > 0)] = 80
affine = np.diag([0.8, 0.8, 1.0, 1.0]); affine[:3, 3] = [-102, -102, -100]
viewer = Viewer(height=500)
viewer.slice_types = ["axial"]
viewer.open(vol, affine=affine, name="fixed")
viewer.open(vol, affine=affine, name="moving", role="overlay", colormap="warm", opacity=0.5)
nav = NavigationTool(viewer)
nav.active = True
rng = np.random.default_rng(0)
lines = [np.cumsum(rng.normal(0, 1.5, (60, 3)), 0) + rng.uniform(-60, 60, 3) for _ in range(2000)]
fibers = FiberTool(viewer)
fibers.load(lines, name="random.tck")
W.VBox([viewer, nav, fibers])
'''

# Installed in the page: every mouse event on a viewer canvas is timed to its frame.
PROBE = r'''() => {
  window.__lat = {}
  window.__label = ''
  const canvases = () => [...document.querySelectorAll('.nora-viewer .nora-vp canvas')]
  window.addEventListener('mousemove', (e) => {
    const label = window.__label
    if (!label || !canvases().includes(e.target)) return
    // after every handler of this event ran, the next animation frame (after the frame
    // callbacks a handler asked for), once the GPU has drawn
    setTimeout(() => requestAnimationFrame(() => {
      const px = new Uint8Array(4)
      for (const c of canvases()) {
        const gl = c.getContext('webgl2')
        if (gl) gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px)
      }
      (window.__lat[label] = window.__lat[label] || []).push(performance.now() - e.timeStamp)
    }), 0)
  }, { capture: true })
}'''


def _harness():
    """tests/browser/conftest.py: the same Lab server and Chromium flags the browser tests use."""
    spec = importlib.util.spec_from_file_location("browser_harness",
                                                  ROOT / "tests" / "browser" / "conftest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# Installed in the page: for each sphere place Python answered, the time from its mouse
# event to the next state the viewer acknowledged (drew).
MAPS_PROBE = r'''() => {
  window.__maps = []
  const root = document.querySelector('.nora-viewer')
  let answered = null
  new MutationObserver((muts) => {
    for (const m of muts) {
      if (m.attributeName === 'data-fiber-hover-event') {
        answered = +root.dataset.fiberHoverEvent
      } else if (m.attributeName === 'data-ack' && answered !== null) {
        window.__maps.push(performance.now() - answered)
        answered = null
      }
    }
  }).observe(root, { attributes: true, attributeFilter: ['data-fiber-hover-event', 'data-ack'] })
}'''


def gesture(page, label: str, key: str | None, button: bool, n: int = 25) -> list[float]:
    """Move the mouse n times over the first canvas with ``key`` held (and the left button
    when ``button``); the latencies the page measured, warm-up dropped."""
    box = page.locator(".nora-viewer .nora-vp canvas").first.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.45
    page.mouse.move(x0, y0)
    page.evaluate(f"() => {{ window.__label = {label!r} }}")
    if key:
        page.keyboard.down(key)
    if button:
        page.mouse.down()
    for s in range(n):
        page.mouse.move(x0 + 2 * (s % 10), y0 + (s % 7))
        page.wait_for_timeout(60)
    if button:
        page.mouse.up()
    if key:
        page.keyboard.up(key)
    page.wait_for_timeout(500)
    page.evaluate("() => { window.__label = '' }")
    return page.evaluate(f"() => window.__lat[{label!r}] || []")[3:]


def main(timeout: float = 600) -> int:
    h = _harness()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="bench_tools_"))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, work / "bench_tools.ipynb")
    artifacts = ROOT / "artifacts" / "browser"
    artifacts.mkdir(parents=True, exist_ok=True)
    server = h.LabServer(work, artifacts / "bench-tools-jupyter-lab.log")
    server.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=h.CHROMIUM, args=h.CHROMIUM_FLAGS)
            lab = h.Lab(server, browser, artifacts)
            page = lab.open_notebook("bench_tools.ipynb", viewport=(1300, 1400))
            lab.run_all(page, timeout=300)
            page.wait_for_function(
                """() => { const r = document.querySelector('.nora-viewer');
                           return r && +r.dataset.ack > 0 && r.dataset.navActive === 'true'
                                  && r.dataset.fiberCount === '2000' && r.dataset.navAffine; }""",
                timeout=timeout * 1000)
            page.evaluate(PROBE)
            lat = {"crosshair": gesture(page, "crosshair", None, True),
                   "nav_drag": gesture(page, "nav_drag", "Control", True),
                   "fiber_sphere": gesture(page, "fiber_sphere", "Shift", False)}
            page.locator(".nora-fiber-maps").click()                  # live maps on
            page.wait_for_selector(".nora-fiber-state[data-terminals]", timeout=timeout * 1000)
            page.wait_for_timeout(3000)
            page.evaluate(MAPS_PROBE)
            gesture(page, "", "Shift", False)
            page.wait_for_timeout(8000)                               # the last answers
            lat["fiber_live_maps"] = page.evaluate("() => window.__maps")
            page.screenshot(path=str(artifacts / "bench_tools.png"))
            lab.close(page)
            browser.close()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    for name, values in lat.items():
        if not values:
            raise RuntimeError(f"no {name} latencies were measured; the page saw no events")
    med = {k: statistics.median(v) for k, v in lat.items()}
    print(f"# bench_tools: {'/'.join(str(len(v)) for v in lat.values())} events "
          f"({', '.join(lat)}); load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores", file=sys.stderr)
    peer = med["crosshair"]
    print(f"BENCH tools_crosshair_drag_latency {peer:.1f} ms ratio=1.00")
    for name in ("nav_drag", "fiber_sphere", "fiber_live_maps"):
        print(f"BENCH tools_{name}_latency {med[name]:.1f} ms ratio={med[name] / peer:.2f}")
    return 0


if __name__ == "__main__":
    t = time.time()
    rc = main()
    print(f"# bench_tools: {time.time() - t:.0f} s", file=sys.stderr)
    sys.exit(rc)

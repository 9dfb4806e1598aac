"""Viewer speed in real JupyterLab + headless Chromium (WebGL2 on SwiftShader, no GPU).

Measured in the kernel, event-driven (a blocking cell would never see the page's
answers), for a 256×256×200 and a 512×512×400 int16 volume:

* ``open``: from showing a new ``Viewer`` holding the volume (appending it to a
  displayed box = ``display(viewer)``) to the page's acknowledgement that it drew the
  first frame with it (``viewer.ack == viewer.seq``);
* ``position``: from ``viewer.position = …`` in Python to the acknowledged redraw
  (median of 15 moves).

The peer, in the same run and page: a bare anywidget that receives the *same bytes*
through the same chunked comm messages and only copies them into one buffer (no
parsing, no GPU, no drawing), and for ``position`` a bare trait round trip. The
ratio ours/peer is therefore the price of rendering on top of transport.

    python benchmarks/bench_viewer.py            # prints BENCH lines
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]

SETUP = r'''
import json, time, statistics
import numpy as np, anywidget, traitlets as T, ipywidgets as W
from nora_lab.widgets import Viewer
from nora_lab.widgets._transfer import send_payload
from nora_lab.widgets._sources import load

PEER_ESM = """
function initialize({ model }) {
  let buf = null
  model.on('msg:custom', (msg, buffers) => {
    if (msg.type === 'begin') buf = new Uint8Array(msg.total)
    else if (msg.type === 'chunk') {
      const d = buffers[0]
      buf.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), msg.offset)
    }
    else if (msg.type === 'end') { model.set('ack', msg.seq); model.save_changes() }
  })
  model.on('change:seq', () => { model.set('ack', model.get('seq')); model.save_changes() })
  model.send({ type: 'ready' })
}
function render({ model, el }) { el.textContent = 'bare anywidget' }
export default { initialize, render }
"""

class Bare(anywidget.AnyWidget):
    """The peer: same bytes, same chunked messages, no rendering."""
    _esm = PEER_ESM
    seq = T.Int(0).tag(sync=True)
    ack = T.Int(-1).tag(sync=True)
    def __init__(self, volume, **kw):
        super().__init__(**kw)
        self._parts = volume.parts()
        self.on_msg(self._ready)
    def _ready(self, _w, content, _b):
        if content.get("type") == "ready":
            with self.hold_sync():  # the new seq reaches the page after the bytes
                self.seq += 1
                send_payload(lambda c, b: self.send(c, b), "peer", 1, "volume", self._parts,
                             self.seq)

def phantom(shape):
    i, j, k = [np.linspace(-1, 1, n, dtype=np.float32) for n in shape]
    r = np.sqrt(i[:, None, None] ** 2 + j[None, :, None] ** 2 + (1.2 * k[None, None, :]) ** 2)
    ct = np.where(r < 0.85, 1200, -1000).astype(np.int16)
    ct[r < 0.75] = 35
    return ct

box = W.VBox()
status = W.HTML("BENCH RUNNING")
results = {}
plan = []
state = {}

def now():
    return time.perf_counter()

def show(widget):
    for old in box.children:
        old.close()
    state["t0"] = now()
    box.children = [widget]

def next_stage(*_):
    with open("bench_results.json", "w") as f:  # progress, in the notebook's directory
        json.dump(results, f)
    done = ", ".join(f"{k}={v:.3f}" for k, v in results.items())
    status.value = f"BENCH stages left: {len(plan)}; {done}"
    if not plan:
        status.value = "BENCH " + "COMPLETE"  # split: the cell's own text must not match
        return
    plan.pop(0)()

def when_acked(widget, callback):
    def obs(change):
        if widget.ack == widget.seq and widget.ack >= 0:
            widget.unobserve(obs, "ack")
            callback()
    widget.observe(obs, "ack")

def stage_open(name, make):
    def run():
        w = make()
        def done():
            results[f"{name}_open_s"] = now() - state["t0"]
            state["widget"] = w
            next_stage()
        when_acked(w, done)
        show(w)
    return run

def stage_moves(name, n=15):
    def run():
        w = state["widget"]
        times = []
        def move():
            state["t1"] = now()
            if isinstance(w, Viewer):
                x, y, z = w.position
                w.position = (x, y, z + (3.0 if len(times) % 2 == 0 else -3.0))
            else:
                w.seq += 1
        def obs(change):
            if w.ack != w.seq:
                return
            times.append(now() - state["t1"])
            if len(times) < n + 2:
                move()
            else:
                w.unobserve(obs, "ack")
                results[f"{name}_move_s"] = statistics.median(times[2:])  # 2 warm-up moves
                next_stage()
        w.observe(obs, "ack")
        move()
    return run
'''

RUN = r'''
vols = {s: phantom(tuple(int(n) for n in s.split("x"))) for s in SIZES}
for name, vol in vols.items():
    data = load(vol, affine=np.diag([0.8, 0.8, 1.0, 1.0]))
    plan += [stage_open(f"peer_{name}", lambda d=data: Bare(d)),
             stage_moves(f"peer_{name}"),
             stage_open(f"viewer_{name}", lambda d=data: Viewer(d, height=400)),
             stage_moves(f"viewer_{name}")]
next_stage()
W.VBox([status, box])
'''


def _harness():
    """tests/browser/conftest.py: the same Lab server and Chromium flags the browser tests use."""
    spec = importlib.util.spec_from_file_location("browser_harness",
                                                  ROOT / "tests" / "browser" / "conftest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(sizes=("256x256x200", "512x512x400"), timeout: float = 900) -> int:
    h = _harness()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="bench_viewer_"))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP),
                                         nbformat.v4.new_code_cell(
                                             f"SIZES = {list(sizes)!r}\n" + RUN)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, work / "bench_viewer.ipynb")
    artifacts = ROOT / "artifacts" / "browser"
    artifacts.mkdir(parents=True, exist_ok=True)
    server = h.LabServer(work, artifacts / "bench-jupyter-lab.log")
    server.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=h.CHROMIUM, args=h.CHROMIUM_FLAGS)
            lab = h.Lab(server, browser, artifacts)
            page = lab.open_notebook("bench_viewer.ipynb", viewport=(1300, 1400))
            t = time.time()
            lab.run_all(page, timeout=300)
            deadline = time.time() + timeout
            while not page.evaluate("() => document.body.innerText.includes('BENCH COMPLETE')"):
                if time.time() > deadline:
                    page.screenshot(path=str(artifacts / "bench_viewer_timeout.png"))
                    results = work / "bench_results.json"
                    done = results.read_text() if results.exists() else "-"
                    raise TimeoutError(f"benchmark not done after {timeout} s; progress: {done}")
                page.wait_for_timeout(2000)
            results = json.loads((work / "bench_results.json").read_text())
            page.screenshot(path=str(artifacts / "bench_viewer.png"))
            lab.close(page)
            browser.close()
            print(f"# bench_viewer: {time.time() - t:.0f} s in the page; {page_note(lab)}; "
                  f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
                  file=sys.stderr)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    for size in sizes:
        for what, label in (("open", "open_to_first_frame"), ("move", "position_to_redraw")):
            ours, peer = results[f"viewer_{size}_{what}_s"], results[f"peer_{size}_{what}_s"]
            print(f"BENCH viewer_{label}_{size} {ours * 1000:.0f} ms ratio={ours / peer:.2f}")
    return 0


def page_note(lab) -> str:
    errors = [line for line in lab.console if "[pageerror]" in line or "[error]" in line]
    return f"{len(errors)} console errors" + (f": {errors[:3]}" if errors else "")


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["256x256x200", "512x512x400"])
    ap.add_argument("--timeout", type=float, default=900)
    a = ap.parse_args()
    sys.exit(main(tuple(a.sizes), a.timeout))

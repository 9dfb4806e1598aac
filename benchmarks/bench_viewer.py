"""Viewer against ipyniivue in real JupyterLab + headless Chromium (WebGL2 on SwiftShader).

The peer is ipyniivue (the Niivue widget a researcher would otherwise pick), in the same
page, on the same ``.nii.gz`` file, measured by the same method:

* ``first_frame_<layout>``: from the command that shows a new widget (a kernel handler
  creates it and puts it into a displayed box) to the first screenshot of its canvas
  area that shows ≥ 90 % of the non-black pixels of its settled picture (screenshots
  every few tens of ms until the picture is unchanged for ~1.5 s). Layouts ``1``
  (multiplanar), ``1x3`` and ``2x2``; ipyniivue draws them as its multiplanar
  auto / row / grid-with-render layouts.
* ``ws_bytes``: bytes the page received on the kernel's websocket while the widget
  opened (Chrome DevTools' websocket frames), for the first layout (ours: the first
  Viewer of the page; its ES module comes over HTTP from the server extension, gzipped,
  once per browser: those bytes are printed beside, not counted); also over the file's own
  (compressed) size; ``ws_bytes_later_viewer``: the same for the page's third viewer
  (2x2), which reuses the module.
* ``crosshair_redraw``: from a crosshair move set in Python to the first screenshot
  that differs from the one before (median of 7 moves).

    python benchmarks/bench_viewer.py [--file T1.nii.gz]   # prints BENCH lines

Default input: the MNI152 2009 T1 that ships inside nilearn (the template the demo
cohort is made from), 197×233×189, 1.6 MB as ``.nii.gz``.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LAYOUTS = ("1", "1x3", "2x2")

SETUP = r'''
import ipywidgets as W
from nora_lab.widgets import Viewer
from ipyniivue import NiiVue
from ipyniivue.constants import MultiplanarType, ShowRender

PEER_LAYOUT = {
    "1": dict(multiplanar_layout=MultiplanarType.AUTO, multiplanar_show_render=ShowRender.AUTO),
    "1x3": dict(multiplanar_layout=MultiplanarType.ROW, multiplanar_show_render=ShowRender.NEVER),
    "2x2": dict(multiplanar_layout=MultiplanarType.GRID, multiplanar_show_render=ShowRender.ALWAYS),
}
box = W.Box(layout=W.Layout(width="1000px", height="560px"))
box.add_class("bench-box")
cmd = W.Text(placeholder="command")
cmd.add_class("bench-cmd")
done = W.HTML("")
state = {}

def run(change):
    what, who, arg = change.new.split()[:3]
    if what == "show":
        for old in box.children:
            old.close()
        if who == "ours":
            w = Viewer(PATH, layout=arg, height=520)
        else:
            w = NiiVue(height=520, **PEER_LAYOUT[arg])
            w.load_volumes([{"path": PATH}])
        w.layout.width = "100%"  # in the flex box; else ipyniivue's canvas is 0 px wide
        state["w"] = w
        box.children = [w]
    elif what == "move":
        w, k = state["w"], int(arg)
        if who == "ours":
            x, y, z = w.position
            w.position = (x, y, z + (6.0 if k % 2 == 0 else -6.0))
        else:
            w.scene.crosshair_pos = [0.5, 0.5, 0.55 if k % 2 == 0 else 0.45]
    done.value = f"<span class='bench-done'>{change.new}</span>"

cmd.observe(run, "value")
W.VBox([cmd, done, box])
'''


def _harness():
    """tests/browser/conftest.py: the same Lab server and Chromium flags the browser tests use."""
    spec = importlib.util.spec_from_file_location("browser_harness",
                                                  ROOT / "tests" / "browser" / "conftest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _nonblack(png: bytes) -> float:
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int32)
    return float(np.mean(rgb.sum(-1) > 30))


class Page:
    """The benchmark notebook's page: commands, screenshots, websocket bytes."""

    def __init__(self, page):
        self.page = page
        self.ws_bytes = 0
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.on("Network.webSocketFrameReceived", self._frame)
        self.http_module_bytes = 0  # our ES module over HTTP (nora/static/viewer-<hash>.js)
        page.on("response", self._response)
        self.n = 0

    def _response(self, r) -> None:
        if "/nora/static/viewer-" in r.url:
            self.http_module_bytes += int(r.headers.get("content-length", 0))

    def _frame(self, event) -> None:
        r = event["response"]
        data = r.get("payloadData", "")
        self.ws_bytes += len(base64.b64decode(data)) if r.get("opcode") == 2 else len(
            data.encode())

    def command(self, text: str) -> float:
        """Send a command to the kernel's handler; the time it was sent."""
        self.n += 1
        text = f"{text} {self.n}"
        t0 = time.perf_counter()
        self.page.locator(".bench-cmd input").fill(text)
        self.page.wait_for_function(
            "t => document.querySelector('.bench-done')?.innerText === t", arg=text,
            timeout=60_000)
        return t0

    def area(self, who: str):
        sel = ".nora-stage" if who == "ours" else "canvas"
        return self.page.locator(f".bench-box {sel}:not([data-bench-old])").first

    def shot(self, who: str) -> bytes | None:
        loc = self.area(who)
        if loc.count() == 0:
            return None
        try:
            return loc.screenshot(timeout=5000, animations="disabled")
        except Exception:  # noqa: BLE001 - not laid out yet
            return None

    def first_frame(self, who: str, layout: str, timeout: float = 120.0) -> float:
        bytes0 = self.ws_bytes
        self.page.evaluate("() => document.querySelectorAll('.bench-box canvas, .bench-box "
                           ".nora-stage').forEach(e => e.dataset.benchOld = '1')")
        t0 = self.command(f"show {who} {layout}")
        polls: list[tuple[float, float]] = []
        stable_since = None
        while time.perf_counter() - t0 < timeout:
            png = self.shot(who)
            t = time.perf_counter() - t0
            frac = _nonblack(png) if png else 0.0
            if polls and frac > 0.01 and abs(frac - polls[-1][1]) < 1e-4:
                stable_since = stable_since or t
                if t - stable_since > 1.5:
                    break
            else:
                stable_since = None
            polls.append((t, frac))
        else:
            raise TimeoutError(f"{who} {layout}: no settled picture after {timeout} s: {polls}")
        final = polls[-1][1]
        self.last_bytes = self.ws_bytes - bytes0
        return next(t for t, f in polls if f >= 0.9 * final)

    def redraw(self, who: str, moves: int = 7) -> float:
        times = []
        for k in range(moves + 1):
            before = self.shot(who)
            t0 = self.command(f"move {who} {k}")
            while time.perf_counter() - t0 < 30:
                png = self.shot(who)
                if png != before:
                    times.append(time.perf_counter() - t0)
                    break
            else:
                raise TimeoutError(f"{who}: the crosshair move {k} never showed")
            self.page.wait_for_timeout(300)
        return statistics.median(times[1:])  # one warm-up move


def main(path: Path, timeout: float = 900) -> int:
    h = _harness()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="bench_viewer_"))
    shutil.copy(path, work / path.name)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"PATH = {path.name!r}\n" + SETUP)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, work / "bench_viewer.ipynb")
    artifacts = ROOT / "artifacts" / "browser"
    artifacts.mkdir(parents=True, exist_ok=True)
    server = h.LabServer(work, artifacts / "bench-jupyter-lab.log")
    server.start()
    res: dict[str, float] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=h.CHROMIUM, args=h.CHROMIUM_FLAGS)
            lab = h.Lab(server, browser, artifacts)
            page = lab.open_notebook("bench_viewer.ipynb", viewport=(1300, 1400))
            lab.run_all(page, timeout=300)
            page.wait_for_selector(".bench-cmd input", timeout=60_000)
            bp = Page(page)
            t = time.time()
            for layout in LAYOUTS:  # alternate, so both see the same machine load
                for who in ("peer", "ours"):
                    res[f"{who}_first_{layout}"] = bp.first_frame(who, layout)
                    res[f"{who}_bytes_{layout}"] = bp.last_bytes
                    page.screenshot(path=str(artifacts / f"bench_viewer_{who}_{layout}.png"))
            for who in ("peer", "ours"):
                bp.first_frame(who, "1")
                res[f"{who}_redraw"] = bp.redraw(who)
            res["http_module_bytes"] = bp.http_module_bytes
            lab.close(page)
            browser.close()
            print(f"# bench_viewer: {time.time() - t:.0f} s in the page; {page_note(lab)}; "
                  f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
                  file=sys.stderr)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    size = path.stat().st_size
    for layout in LAYOUTS:
        ours, peer = res[f"ours_first_{layout}"], res[f"peer_first_{layout}"]
        print(f"BENCH viewer_first_frame_{layout} {ours * 1000:.0f} ms ratio={ours / peer:.2f}")
    ours_b, peer_b = res["ours_bytes_1"], res["peer_bytes_1"]
    print(f"# {path.name}: {size / 1e6:.2f} MB on disk; websocket bytes to open it: ours "
          f"{ours_b / 1e6:.2f} MB ({ours_b / size:.2f}x the file), ipyniivue "
          f"{peer_b / 1e6:.2f} MB ({peer_b / size:.2f}x)", file=sys.stderr)
    print(f"# ours: the ES module came over HTTP once, {res['http_module_bytes'] / 1e6:.2f} MB "
          "gzipped (the browser caches it)", file=sys.stderr)
    print(f"BENCH viewer_ws_bytes {ours_b / 1e6:.2f} MB ratio={ours_b / peer_b:.2f}")
    print(f"BENCH viewer_ws_bytes_per_file_byte {ours_b / size:.2f} x "
          f"ratio={(ours_b / size) / (peer_b / size):.2f}")
    # the page's later viewers reuse the ES module the first one fetched: the volume only
    ours_l, peer_l = res["ours_bytes_2x2"], res["peer_bytes_2x2"]
    print(f"BENCH viewer_ws_bytes_later_viewer {ours_l / size:.2f} x ratio={ours_l / peer_l:.2f}")
    ours, peer = res["ours_redraw"], res["peer_redraw"]
    print(f"BENCH viewer_crosshair_redraw {ours * 1000:.0f} ms ratio={ours / peer:.2f}")
    return 0


def page_note(lab) -> str:
    errors = [line for line in lab.console if "[pageerror]" in line or "[error]" in line]
    return f"{len(errors)} console errors" + (f": {errors[:3]}" if errors else "")


def default_input() -> Path:
    import nilearn

    return (Path(nilearn.__file__).parent / "datasets" / "data"
            / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz")


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, default=None, help="a .nii.gz (default: MNI152 T1)")
    ap.add_argument("--timeout", type=float, default=900)
    a = ap.parse_args()
    sys.exit(main(a.file or default_input(), a.timeout))

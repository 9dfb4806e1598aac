"""notebooks/fibers.ipynb in real JupyterLab + headless Chromium: with shift held a sphere
follows the mouse, shift + wheel grows it, shift + click selects the fibers through it in the
kernel, and the live maps Python then holds are those of the selection."""

from __future__ import annotations

import io
import json

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser

READY = """() => { const r = document.querySelector('.nora-viewer');
                   const s = document.querySelector('.nora-fiber-state');
                   return r && +r.dataset.ack > 0 && r.dataset.fiberCount === '70'
                          && s && s.dataset.terminals === '140'; }"""


@pytest.fixture(scope="module")
def page(lab):
    page = lab.run_notebook("fibers.ipynb", READY, "fibers", timeout=240)
    yield page
    lab.finish(page, "fibers")


def ring_top(demo_home) -> np.ndarray:
    """Where the notebook put the top of its ring: 18 mm above the DTI grid's centre."""
    from nora_lab.archive import Archive

    arc = Archive.open(demo_home)
    try:
        path = arc.project("demo").files("*/s012.nii.gz", psid="1234#1")["path"].iloc[0]
    finally:
        arc.close()
    img = nib.load(path)
    return nib.affines.apply_affine(img.affine, np.array(img.shape[:3]) / 2) + [0.0, 0.0, 18.0]


def coronal_tile(page) -> dict:
    """The coronal tile of the 1x3 viewer: the middle third of its one shared canvas."""
    box = page.locator(".nora-viewer").first.locator(".nora-vp canvas").first.bounding_box()
    return {**box, "x": box["x"] + box["width"] / 3, "width": box["width"] / 3}


def sphere_at(page, x, y) -> list[float]:
    page.mouse.move(x, y)
    page.wait_for_function(
        "() => document.querySelector('.nora-fiber-sphere')?.style.display === 'block'")
    return json.loads(page.locator(".nora-fiber-sphere").first.get_attribute("data-mm"))


def ring_top_on_screen(page, box, demo_home, below_mm: float = 0.0) -> np.ndarray:
    """Where the top of the ring (or ``below_mm`` under it) is in the coronal tile ``box``,
    found from the (x, z) mm of the sphere at three probes (shift must be held)."""
    probes = [(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
              for fx, fy in ((0.4, 0.4), (0.6, 0.4), (0.4, 0.6))]
    mm = np.array([sphere_at(page, x, y) for x, y in probes])
    screen = np.c_[np.array(probes), np.ones(3)]
    to_xz = np.linalg.solve(screen, mm[:, [0, 2]])                   # rows: x, y, 1
    top = ring_top(demo_home) - [0.0, 0.0, below_mm]
    return np.linalg.solve(to_xz[:2].T, top[[0, 2]] - to_xz[2])


def settled(page, quiet_ms: int = 700) -> None:
    """Wait until the page has acknowledged (drawn) the same state for ``quiet_ms``."""
    last, since = None, 0.0
    for _ in range(200):
        ack = page.locator(".nora-viewer").first.get_attribute("data-ack")
        if ack != last:
            last, since = ack, 0.0
        elif since >= quiet_ms:
            return
        page.wait_for_timeout(100)
        since += 100
    raise AssertionError("the viewer kept changing")


def fiber_state(page) -> dict:
    s = page.locator(".nora-fiber-state")
    return {k: s.get_attribute(f"data-{k}") for k in ("count", "selected", "preview", "terminals")}


def test_notebook_runs_without_errors(lab, page):
    assert lab.errors_in_outputs(page) == []
    assert not [line for line in lab.console if "[pageerror]" in line], lab.console


def test_shift_shows_a_sphere_that_follows_the_mouse_and_the_wheel_sizes(lab, page):
    box = coronal_tile(page)
    page.keyboard.down("Shift")
    a = sphere_at(page, box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
    b = sphere_at(page, box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5)
    assert b[0] != a[0] and b[2] == pytest.approx(a[2], abs=0.5)
    root = page.locator(".nora-viewer").first
    r0 = float(root.get_attribute("data-fiber-radius"))
    width0 = page.locator(".nora-fiber-sphere").first.bounding_box()["width"]
    page.mouse.wheel(0, -100)
    page.wait_for_function(f"() => +document.querySelector('.nora-viewer').dataset.fiberRadius"
                           f" > {r0}")
    assert page.locator(".nora-fiber-sphere").first.bounding_box()["width"] > width0
    assert float(root.get_attribute("data-sphere-ms")) >= 0
    page.keyboard.up("Shift")
    page.wait_for_function(
        "() => document.querySelector('.nora-fiber-sphere').style.display === 'none'")


def test_shift_click_selects_in_the_kernel_and_the_live_maps_follow(lab, page, demo_home):
    cv = page.locator(".nora-viewer").first.locator(".nora-vp canvas").first
    box = coronal_tile(page)
    page.keyboard.down("Shift")
    page.mouse.move(*ring_top_on_screen(page, box, demo_home))
    page.mouse.down()
    page.mouse.up()
    page.keyboard.up("Shift")
    page.wait_for_function(
        "() => +document.querySelector('.nora-fiber-state').dataset.selected > 0",
        timeout=30_000)
    page.wait_for_timeout(300)
    state = page.locator(".nora-fiber-state")
    selected = int(state.get_attribute("data-selected"))
    assert 10 <= selected <= 70                                      # fibers of the ring
    assert int(state.get_attribute("data-terminals")) == 2 * selected   # the selection's maps
    page.wait_for_function(
        f"() => document.querySelector('.nora-viewer').dataset.fiberSelected === '{selected}'",
        timeout=30_000)                                              # the page was told
    lab.shot(cv, "fibers_selected.png")


def test_the_live_maps_follow_the_sphere_while_it_moves_before_any_click(lab, page, demo_home):
    root = page.locator(".nora-viewer").first
    page.locator(".nora-fiber-undo").click()          # back to the ring and its short pieces
    page.wait_for_function(
        "() => +document.querySelector('.nora-fiber-state').dataset.count > 70", timeout=30_000)
    page.locator(".nora-fiber-clear").click()
    page.wait_for_function(
        "() => document.querySelector('.nora-fiber-state').dataset.selected === '0'")
    before = fiber_state(page)
    count = int(before["count"])
    assert int(before["terminals"]) == 2 * count and before["preview"] is None   # all of them
    cv = root.locator(".nora-vp canvas").first
    box = coronal_tile(page)
    page.keyboard.down("Shift")
    top = ring_top_on_screen(page, box, demo_home)    # moves the sphere: previews already
    away = ring_top_on_screen(page, box, demo_home, below_mm=30.0)   # under the ring's ends
    hover0 = int(root.get_attribute("data-fiber-hover") or 0)
    # a shift-move along the ring to its top, no click: Python answers the places as it goes
    for s in range(6, -1, -1):
        page.mouse.move(top[0] + 4 * s, top[1] + 3 * s)
        page.wait_for_timeout(40)
    page.wait_for_function(
        f"""() => {{ const r = document.querySelector('.nora-viewer');
                    const s = document.querySelector('.nora-fiber-state').dataset;
                    return +r.dataset.fiberHover > {hover0 + 1} && +s.preview > 0
                           && +s.terminals === 2 * +s.preview
                           && r.dataset.fiberPreview === s.preview; }}""", timeout=30_000)
    settled(page)
    during = fiber_state(page)
    assert during["selected"] == "0"                          # nothing was selected
    assert 10 <= int(during["preview"]) < count               # the ring, not its short pieces
    assert int(during["terminals"]) == 2 * int(during["preview"]) != int(before["terminals"])
    page.evaluate("() => document.querySelectorAll('.nora-fiber-sphere')"
                  ".forEach((r) => { r.style.visibility = 'hidden' })")
    on_ring = lab.shot(cv, "fibers_preview_on_ring.png")
    # off every fiber: the maps go back to those of all streamlines while shift is held
    page.mouse.move(*away)
    page.wait_for_function(
        f"""() => {{ const r = document.querySelector('.nora-viewer');
                    const s = document.querySelector('.nora-fiber-state').dataset;
                    return s.preview === '0' && s.terminals === '{2 * count}'
                           && r.dataset.fiberPreview === '0'; }}""", timeout=30_000)
    settled(page)
    off = lab.shot(cv, "fibers_preview_off.png")
    page.keyboard.up("Shift")
    page.wait_for_function(
        "() => document.querySelector('.nora-viewer').dataset.fiberPreview === '-1'",
        timeout=30_000)                                         # no sphere, no preview
    assert fiber_state(page)["preview"] is None
    a, b = (np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)
            for png in (on_ring, off))
    assert np.mean(np.any(a != b, axis=-1)) > 0.002           # the overlays were redrawn

"""notebooks/fibers.ipynb in real JupyterLab + headless Chromium: with shift held a sphere
follows the mouse, shift + wheel grows it, shift + click selects the fibers through it in the
kernel, and the live maps Python then holds are those of the selection."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

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
    # the screen -> (x, z) mm map of the coronal tile, from three probes of the sphere
    probes = [(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
              for fx, fy in ((0.4, 0.4), (0.6, 0.4), (0.4, 0.6))]
    mm = np.array([sphere_at(page, x, y) for x, y in probes])
    screen = np.c_[np.array(probes), np.ones(3)]
    to_xz = np.linalg.solve(screen, mm[:, [0, 2]])                   # rows: x, y, 1
    top = ring_top(demo_home)
    xy = np.linalg.solve(to_xz[:2].T, top[[0, 2]] - to_xz[2])
    page.mouse.move(*xy)
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

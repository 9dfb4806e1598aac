"""notebooks/navigation.ipynb in real JupyterLab + headless Chromium: demo02's T1 moved onto
demo01's by a ctrl + left drag in the viewer, then APPLY clicked; every check crosses the
kernel (the tool's status line is written by Python) and ends in the archive's files."""

from __future__ import annotations

import io
import json

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser

READY = """() => { const r = document.querySelector('.nora-viewer');
                   const s = document.querySelector('.nora-nav-state');
                   return r && +r.dataset.ack > 0 && r.dataset.navActive === 'true'
                          && r.dataset.navAffine && s && /APPLY/.test(s.innerText); }"""


@pytest.fixture(scope="module")
def page(lab):
    page = lab.run_notebook("navigation.ipynb", READY, "navigation", timeout=240)
    yield page
    lab.finish(page, "navigation")


def python_matrix(page) -> np.ndarray:
    return np.reshape(json.loads(page.locator(".nora-nav-state").get_attribute("data-matrix")),
                      (4, 4))


def page_matrix(page) -> np.ndarray:
    return np.reshape(json.loads(
        page.locator(".nora-viewer").first.get_attribute("data-nav-matrix")), (4, 4))


def files(demo_home, tag="navigated", psid="demo02#MR1"):
    """The files of a demo study with a tag, as the archive lists them."""
    from nora_lab.archive import Archive

    arc = Archive.open(demo_home)
    try:
        return arc.project("demo").files(psid=psid, tags=[tag])
    finally:
        arc.close()


def test_notebook_runs_and_the_page_moved_demo02_by_pythons_matrix(lab, page, demo_home):
    assert lab.errors_in_outputs(page) == []
    assert not [line for line in lab.console if "[pageerror]" in line], lab.console
    np.testing.assert_allclose(page_matrix(page), python_matrix(page), atol=1e-3)
    moved = np.reshape(json.loads(
        page.locator(".nora-viewer").first.get_attribute("data-nav-affine")), (4, 4))
    t1 = files(demo_home, "t1")["path"].iloc[0]
    np.testing.assert_allclose(moved, python_matrix(page) @ nib.load(t1).affine, atol=1e-2)


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)


def test_ctrl_drag_moves_demo02_live_and_python_holds_the_matrix(lab, page, demo_home):
    before = python_matrix(page)
    cv = page.locator(".nora-viewer").first.locator(".nora-vp canvas").first   # its 3 tiles
    box = cv.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5
    page.mouse.move(x0, y0)
    still = pixels(lab.shot(cv, "navigation_before_drag.png"))
    page.keyboard.down("Control")
    page.mouse.down()
    for s in range(1, 11):
        page.mouse.move(x0 + 4 * s, y0 + 2 * s)
    page.wait_for_timeout(1500)
    # a live frame (only the slices on screen resampled) ...
    live = pixels(lab.shot(cv, "navigation_during_drag.png"))
    page.mouse.up()
    page.wait_for_timeout(1000)
    # ... shows what the whole resampling at the drag's end shows
    done = pixels(lab.shot(cv, "navigation_after_drag.png"))
    assert np.mean(np.any(live != still, axis=-1)) > 0.01            # demo02 moved live
    assert np.mean(np.any(np.abs(live - done) > 8, axis=-1)) < 0.002
    page.keyboard.up("Control")
    page.wait_for_function(
        """b => { const m = JSON.parse(document.querySelector('.nora-nav-state').dataset.matrix);
                  return Math.abs(m[3] - b[3]) + Math.abs(m[7] - b[7]) > 1; }""",
        arg=before.ravel().tolist(), timeout=30_000)
    after = python_matrix(page)
    np.testing.assert_allclose(after, page_matrix(page), atol=1e-3)     # the page's = Python's
    shift = after[:3, 3] - before[:3, 3]
    np.testing.assert_allclose(after[:3, :3], before[:3, :3], atol=1e-6)  # a translation only
    # in the plane of the slice dragged on: one world coordinate stays
    assert np.sort(np.abs(shift))[0] < 1e-3 and np.linalg.norm(shift) > 5
    assert 0 <= float(page.locator(".nora-viewer").first.get_attribute("data-nav-ms")) < 30_000


def test_apply_writes_the_moved_image_and_its_transform_into_the_study(page, demo_home):
    matrix = python_matrix(page)
    page.locator(".nora-nav-apply").click()
    page.wait_for_function(
        """m => { const s = document.querySelector('.nora-nav-state');
                  return /APPLY/.test(s.innerText) && s.dataset.matrix === m; }""",
        arg=page.locator(".nora-nav-state").get_attribute("data-matrix"), timeout=60_000)
    page.wait_for_timeout(500)
    nav = files(demo_home)
    assert sorted(nav["relpath"]) == ["nav/demo02_T1_nav.nii.gz", "nav/transform_nav.json"]
    paths = dict(zip(nav["relpath"], nav["path"], strict=True))
    saved = json.loads(open(paths["nav/transform_nav.json"]).read())
    np.testing.assert_allclose(saved["matrix"], matrix, atol=1e-3)
    out = nib.load(paths["nav/demo02_T1_nav.nii.gz"])
    fixed = nib.load(files(demo_home, "t1", "demo01#MR1")["path"].iloc[0])
    assert out.shape == fixed.shape                                  # on demo01's grid
    np.testing.assert_allclose(out.affine, fixed.affine, atol=1e-4)
    # demo02 resampled by the dragged matrix: its centre voxel came from matrix^-1 there
    moving = nib.load(files(demo_home, "t1")["path"].iloc[0])
    c = np.array(fixed.shape) // 2
    world = fixed.affine @ np.r_[c, 1]
    src = np.rint(np.linalg.solve(moving.affine, np.linalg.solve(matrix, world))[:3]).astype(int)
    got = float(np.asarray(out.dataobj)[tuple(c)])
    assert abs(got - float(moving.get_fdata()[tuple(src)])) < 0.25 * float(moving.get_fdata().std())


def test_a_marker_dragged_in_the_viewer_shows_the_warped_preview(lab, page):
    """(after APPLY: the marker would add a deformation file to its study)"""
    root = page.locator(".nora-viewer").first
    cv = root.locator(".nora-vp canvas").first
    page.locator(".nora-nav-placing").click()                        # ✚ markers on
    page.wait_for_selector(".nora-nav-placing.mod-active")
    page.wait_for_timeout(500)                                       # the page was told
    assert page.locator(".nora-nav-warp.mod-active").count() == 1    # the notebook turned it on
    box = cv.bounding_box()
    x0, y0 = box["x"] + box["width"] / 6, box["y"] + box["height"] * 0.4   # axial tile
    still = pixels(lab.shot(cv, "navigation_before_marker.png"))
    page.mouse.move(x0, y0)
    page.keyboard.down("Control")
    page.mouse.down()
    for s in range(1, 9):
        page.mouse.move(x0 + 2 * s, y0 - 2 * s)
        page.wait_for_timeout(30)
    page.mouse.up()
    page.keyboard.up("Control")
    page.wait_for_selector(".nora-nav-state[data-warped='1']", timeout=90_000)
    page.wait_for_function(
        "() => document.querySelector('.nora-viewer').dataset.navMarkers === '1'")
    page.wait_for_timeout(3000)                                      # the preview is drawn
    warped = pixels(lab.shot(cv, "navigation_warped_preview.png"))
    assert "warped preview of 1" in page.locator(".nora-nav-state").inner_text()
    assert np.mean(np.any(np.abs(warped - still) > 8, axis=-1)) > 0.002

"""notebooks/roi_editors.ipynb in real JupyterLab + headless Chromium: a polygon clicked corner
by corner in ROI edit mode, one corner dragged, then committed; the corners and voxels are
read from the ROI tool's status line, which Python writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.browser

READY = """() => { const r = document.querySelector('.nora-viewer');
                   const s = document.querySelector('.nora-roi-state');
                   return r && +r.dataset.ack > 0 && r.dataset.drawing === 'true'
                          && s && /clicked/.test(s.innerText); }"""


@pytest.fixture(scope="module")
def page(lab):
    page = lab.run_notebook("roi_editors.ipynb", READY, "roi_editors", timeout=180)
    yield page
    lab.finish(page, "roi_editors")


def corners(page) -> np.ndarray:
    return np.asarray(json.loads(
        page.locator(".nora-roi-state").get_attribute("data-polygon"))).reshape(-1, 3)


def wait_corners(page, n: int) -> None:
    page.wait_for_function(
        f"""() => JSON.parse(document.querySelector('.nora-roi-state').dataset.polygon)
                 .length === {n}""", timeout=30_000)


def test_notebook_runs_without_errors(lab, page):
    assert lab.errors_in_outputs(page) == []
    assert not [line for line in lab.console if "[pageerror]" in line], lab.console


def test_clicked_corners_move_by_a_drag_and_commit_fills_them(lab, page):
    cv = page.locator(".nora-viewer").first.locator(".nora-vp canvas").first
    box = cv.bounding_box()
    at = [(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
          for fx, fy in ((0.40, 0.40), (0.60, 0.40), (0.50, 0.60))]
    for i, (x, y) in enumerate(at, start=1):
        page.mouse.click(x, y)
        wait_corners(page, i)
    before = corners(page)
    assert np.ptp(before[:, 2]) < 1e-6                     # all on the axial slice shown
    # drag the third corner down by 40 px: still three corners, the third one moved
    x, y = at[2]
    page.mouse.move(x, y)
    page.mouse.down()
    for s in range(1, 9):
        page.mouse.move(x, y + 5 * s)
    page.mouse.up()
    page.wait_for_function(
        """b => { const c = JSON.parse(document.querySelector('.nora-roi-state').dataset.polygon);
                  return c.length === 3 && Math.abs(c[2][1] - b) > 2; }""",
        arg=float(before[2, 1]), timeout=30_000)
    after = corners(page)
    np.testing.assert_allclose(after[:2], before[:2])
    assert after[2, 1] < before[2, 1] - 2                  # down on the screen = posterior
    assert page.locator(".nora-roi-state").get_attribute("data-voxels") == "0"  # not drawn yet
    lab.shot(cv, "roi_polygon_before_commit.png")
    page.locator(".nora-roi-commit").click()
    page.wait_for_function(
        "() => +document.querySelector('.nora-roi-state').dataset.voxels > 20", timeout=30_000)
    wait_corners(page, 0)

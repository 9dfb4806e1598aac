"""notebooks/mpr.ipynb in real JupyterLab + headless Chromium: a ctrl + drag in the oblique
viewport turns the plane in the kernel (the tool's status line, written by Python, carries
the plane), and a ctrl + shift + drag moves it along its normal."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.browser

READY = """() => { const r = document.querySelector('.nora-viewer');
                   return r && +r.dataset.ack > 0 && r.dataset.mprViewport === '1'
                          && document.querySelector('.nora-mpr-state'); }"""


@pytest.fixture(scope="module")
def page(lab):
    page = lab.run_notebook("mpr.ipynb", READY, "mpr", timeout=180)
    yield page
    lab.finish(page, "mpr")


def plane(page) -> np.ndarray:
    return np.reshape(json.loads(page.locator(".nora-mpr-state").get_attribute("data-plane")),
                      (4, 4))


def ctrl_drag(page, dy: float, shift: bool = False) -> None:
    cv = page.locator(".nora-viewer .nora-vp[data-vp='1'] canvas").first
    box = cv.bounding_box()
    x, y = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.4
    before = page.locator(".nora-mpr-state").get_attribute("data-plane")
    page.keyboard.down("Control")
    if shift:
        page.keyboard.down("Shift")
    page.mouse.move(x, y)
    page.mouse.down()
    for s in range(1, 11):
        page.mouse.move(x, y + dy * s / 10)
        page.wait_for_timeout(30)
    page.mouse.up()
    if shift:
        page.keyboard.up("Shift")
    page.keyboard.up("Control")
    page.wait_for_function(
        "b => document.querySelector('.nora-mpr-state').dataset.plane !== b", arg=before,
        timeout=30_000)
    page.wait_for_timeout(1000)  # the last throttled piece of the drag


def test_notebook_runs_without_errors(lab, page):
    assert lab.errors_in_outputs(page) == []
    assert not [line for line in lab.console if "[pageerror]" in line], lab.console
    np.testing.assert_allclose(plane(page)[:3, 2], [0.0, -0.34, 0.94], atol=0.01)


def test_ctrl_drag_turns_the_plane_about_its_centre(lab, page):
    before = plane(page)
    ctrl_drag(page, 40)
    after = plane(page)
    np.testing.assert_allclose(after[:3, 3], before[:3, 3], atol=1e-3)     # same centre
    turned = np.degrees(np.arccos(np.clip(after[:3, 2] @ before[:3, 2], -1, 1)))
    assert turned == pytest.approx(20.0, abs=2.5)                         # 0.5° per pixel
    np.testing.assert_allclose(after[:3, 0], before[:3, 0], atol=1e-3)     # about its u axis
    lab.shot(page.locator(".nora-viewer").first, "mpr_after_drag.png")


def test_ctrl_shift_drag_moves_the_plane_along_its_normal(page):
    before = plane(page)
    ctrl_drag(page, -10, shift=True)
    after = plane(page)
    np.testing.assert_allclose(after[:3, :3], before[:3, :3], atol=1e-3)
    move = after[:3, 3] - before[:3, 3]
    assert move @ before[:3, 2] == pytest.approx(10.0, abs=1.5)

"""notebooks/assistant.ipynb in real JupyterLab + headless Chromium: a click in the viewer
with the assistant on shows the proposal overlay, Accept puts it into the ROI the kernel
holds (the ROI tool's status line, which Python writes), and undo removes it."""

from __future__ import annotations

import io

import numpy as np
import pytest

pytestmark = pytest.mark.browser

READY = """() => { const r = document.querySelector('.nora-viewer');
                   const s = document.querySelector('.nora-assist-state');
                   return r && +r.dataset.ack > 0 && r.dataset.assistMode === 'point'
                          && s && s.dataset.mode === 'point'; }"""


@pytest.fixture(scope="module")
def page(lab):
    page = lab.run_notebook("assistant.ipynb", READY, "assistant", timeout=300)
    yield page
    lab.finish(page, "assistant")


def green(png: bytes) -> int:
    from PIL import Image

    px = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int(((px[..., 1] > px[..., 0] + 40) & (px[..., 1] > px[..., 2] + 40)).sum())


def test_notebook_runs_without_errors(lab, page):
    assert lab.errors_in_outputs(page) == []
    assert not [line for line in lab.console if "[pageerror]" in line], lab.console


def test_click_shows_the_proposal_accept_puts_it_in_the_roi_and_undo_removes_it(lab, page):
    cv = page.locator(".nora-viewer").first.locator(".nora-vp canvas").first
    before = green(lab.shot(cv, "assist_before.png"))
    box = cv.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.wait_for_function(
        "() => +document.querySelector('.nora-assist-state').dataset.voxels > 0",
        timeout=60_000)
    page.wait_for_timeout(1500)                   # the overlay diff reaches the page, drawn
    assert green(lab.shot(cv, "assist_proposal.png")) > before + 50
    roi = page.locator(".nora-roi-state")
    assert roi.get_attribute("data-voxels") == "0"          # proposed, not yet in the ROI
    page.locator(".nora-assist button", has_text="Accept").click()
    page.wait_for_function(
        "() => +document.querySelector('.nora-roi-state').dataset.voxels > 0", timeout=30_000)
    page.wait_for_function(                                   # ... and left the assistant
        "() => document.querySelector('.nora-assist-state').dataset.voxels === '0'",
        timeout=30_000)
    assert int(roi.get_attribute("data-voxels")) > 0
    page.locator(".nora-roi-tool button", has_text="↶").click()
    page.wait_for_function(
        "() => document.querySelector('.nora-roi-state').dataset.voxels === '0'",
        timeout=30_000)

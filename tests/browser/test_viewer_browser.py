"""notebooks/viewer.ipynb in real JupyterLab + headless Chromium (WebGL2 on SwiftShader).

One notebook session, several checks in order (each a test; they share the page):
the volume is drawn, a click moves the crosshair and Python sees the new world
position, a preset key changes ``viewer.window`` in Python, and a pen stroke in
ROI edit mode comes back from the kernel as a drawn mask diff. The state Python
sees is read from the notebook's own status line (an ``ipywidgets.HTML`` that
Python observers rewrite), so every check crosses the kernel.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from .conftest import pixel_stats

pytestmark = pytest.mark.browser

# all three viewers of the notebook acknowledged a drawn frame with their layers
READY = """() => { const rs = [...document.querySelectorAll('.nora-viewer')];
                   return rs.length === 3 && rs.every(r => +r.dataset.ack > 0)
                          && rs.map(r => +r.dataset.layers).join() === '2,4,1'; }"""


@pytest.fixture(scope="module")
def page(lab):
    page = lab.run_notebook("viewer.ipynb", READY, "viewer", timeout=120)
    yield page
    lab.finish(page, "viewer")


def python_state(page) -> dict:
    text = page.locator(".nora-python-state").first.inner_text()
    m = re.search(r"position=\(([^)]*)\) value=(\S+) window=\(([^)]*)\)", text)
    assert m, text
    return {"position": tuple(float(x) for x in m.group(1).split(",")),
            "value": None if m.group(2) == "–" else float(m.group(2)),
            "window": tuple(float(x) for x in m.group(3).split(","))}


def wait_python_change(page, before: str, timeout=30_000) -> None:
    page.wait_for_function(
        "b => document.querySelector('.nora-python-state').innerText !== b", arg=before,
        timeout=timeout)


def canvas(page, viewer=0, viewport=0):
    return page.locator(".nora-viewer").nth(viewer).locator(".nora-vp canvas").nth(viewport)


def test_notebook_runs_without_errors(lab, page):
    assert lab.errors_in_outputs(page) == []
    root = page.locator(".nora-viewer").first
    assert root.get_attribute("data-error") is None
    assert not [line for line in lab.console if "[pageerror]" in line], lab.console
    assert lab.external_requests == []  # everything, Niivue included, comes from the package


def test_viewer_draws_the_volume_with_webgl2(lab, page):
    info = canvas(page).evaluate(
        """c => { const g = c.getContext('webgl2');
                  return {webgl2: !!g, w: c.width, h: c.height}; }""")
    assert info["webgl2"] and info["w"] > 300 and info["h"] > 300
    stats = pixel_stats(lab.shot(canvas(page), "viewer_canvas.png"))
    # a gray-scale head with a yellow mask and a red crosshair: many colours, much non-black
    assert stats["unique_colors"] > 100, stats
    assert 0.1 < stats["frac_non_dominant"] < 0.9, stats
    assert stats["dominant"] == "#000000"
    frame = int(page.locator(".nora-viewer").first.get_attribute("data-frame"))
    assert frame >= 1


def test_python_position_reached_the_page(page):
    root = page.locator(".nora-viewer").first
    assert json.loads(root.get_attribute("data-position")) == [24, -18, 0]  # set by the last cell
    assert python_state(page) == {"position": (24.0, -18.0, 0.0), "value": 75.0,
                                  "window": (40.0, 80.0)}


def test_click_moves_the_crosshair_and_python_sees_the_world_position(lab, page):
    cv = canvas(page)
    box = cv.bounding_box()
    before = page.locator(".nora-python-state").first.inner_text()
    # left part of the axial tile of the multiplanar view: inside the head, left of the lesion
    cv.click(position={"x": box["width"] * 0.10, "y": box["height"] * 0.35})
    wait_python_change(page, before)
    page_pos = json.loads(page.locator(".nora-viewer").first.get_attribute("data-position"))
    state = python_state(page)
    assert state["position"] == pytest.approx(page_pos, abs=0.06)  # printed with one decimal
    assert state["position"] != (24.0, -18.0, 0.0)
    assert state["position"][2] == pytest.approx(0.0, abs=1.6)  # same axial slice (3 mm voxels)
    assert state["value"] == 35.0  # brain tissue in the phantom
    lab.shot(cv, "viewer_after_click.png")


def test_preset_key_changes_the_window_in_python(lab, page):
    before_png = canvas(page).screenshot()
    for key, expected in (("4", (400.0, 1800.0)), ("1", (40.0, 80.0))):
        before = page.locator(".nora-python-state").first.inner_text()
        page.keyboard.press(key)  # the canvas has the focus since the click
        wait_python_change(page, before)
        assert python_state(page)["window"] == expected
        if key == "4":
            bone_png = lab.shot(canvas(page), "viewer_bone_window.png")
            assert bone_png != before_png  # the page redrew with the new window
    # the key went to the viewer, not to JupyterLab's notebook shortcuts (1 = heading!)
    kinds = page.eval_on_selector_all(
        ".jp-Notebook .jp-Cell", "els => els.map(e => e.classList.contains('jp-MarkdownCell'))")
    assert kinds == [True, False, False, True, False, True, False, True, False, False]


def test_pen_stroke_goes_to_the_kernel_and_the_mask_diff_comes_back(lab, page):
    root = page.locator(".nora-viewer").first
    cv = canvas(page)
    page.keyboard.press(" ")  # NORA: space toggles ROI edit
    page.wait_for_function(
        "() => document.querySelector('.nora-viewer').dataset.drawing === 'true'")
    ack0 = int(root.get_attribute("data-ack"))
    before = np.asarray(_rgb(cv.screenshot()))
    box = cv.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.08, box["y"] + box["height"] * 0.55
    page.mouse.move(x0, y0)
    page.mouse.down()
    for s in range(1, 12):
        page.mouse.move(x0 + 3 * s, y0 + 1.5 * s)
    page.mouse.up()
    # each diff bumps seq; the page acknowledges once it has drawn them
    page.wait_for_function(f"() => +document.querySelector('.nora-viewer').dataset.ack > {ack0}",
                           timeout=30_000)
    page.wait_for_timeout(1000)
    after = np.asarray(_rgb(lab.shot(cv, "viewer_pen_stroke.png")))
    yellow = lambda a: (a[..., 0] > 150) & (a[..., 1] > 130) & (a[..., 2] < 90)  # noqa: E731
    assert yellow(after).sum() > yellow(before).sum() + 30
    page.keyboard.press(" ")
    page.wait_for_function(
        "() => document.querySelector('.nora-viewer').dataset.drawing === 'false'")


def _rgb(png: bytes):
    import io

    from PIL import Image

    return Image.open(io.BytesIO(png)).convert("RGB")


def test_2x2_layout_draws_four_viewports_with_surface_and_fibers(lab, page):
    root = page.locator(".nora-viewer").nth(1)
    assert root.get_attribute("data-layout") == "2x2"
    shots = [pixel_stats(lab.shot(canvas(page, 1, i), f"viewer_2x2_vp{i}.png")) for i in range(4)]
    for i, st in enumerate(shots):
        assert st["unique_colors"] > 50 and st["frac_non_dominant"] > 0.05, (i, st)
    render = np.asarray(_rgb(lab.shot(canvas(page, 1, 3), "viewer_2x2_render.png"))).astype(int)
    cyan = (render[..., 2] > 150) & (render[..., 1] > 150) & (render[..., 0] < 100)
    assert cyan.sum() > 50, "the cyan lesion surface is not in the 3-D viewport"
    # fibers are coloured by direction: strongly saturated pixels in the axial view
    axial = np.asarray(_rgb(canvas(page, 1, 0).screenshot())).astype(int)
    saturation = axial.max(-1) - axial.min(-1)
    assert (saturation > 120).sum() > 100, "no fibers drawn over the axial slice"


def test_the_crosshair_is_shared_by_all_viewports(page):
    root = page.locator(".nora-viewer").nth(1)
    box = canvas(page, 1, 1).bounding_box()  # coronal viewport
    before = root.get_attribute("data-position")
    canvas(page, 1, 1).click(position={"x": box["width"] * 0.4, "y": box["height"] * 0.45})
    page.wait_for_function(
        "b => document.querySelectorAll('.nora-viewer')[1].dataset.position !== b", arg=before)
    page.wait_for_timeout(500)
    pos = json.loads(root.get_attribute("data-position"))
    for i in range(4):  # every viewport's crosshair sits at the same world position
        mm = json.loads(root.locator(".nora-vp").nth(i).get_attribute("data-mm"))
        assert mm == pytest.approx(pos, abs=0.02), (i, mm, pos)
    assert pos[1] != json.loads(before)[1] or pos[2] != json.loads(before)[2]


def test_mosaic_shows_many_slices(lab, page):
    from scipy import ndimage

    img = np.asarray(_rgb(lab.shot(canvas(page, 2, 0), "viewer_mosaic.png"))).astype(int)
    head = img.sum(-1) > 60
    _, n = ndimage.label(ndimage.binary_opening(head, iterations=2))
    assert n >= 6, f"expected a mosaic of slices, found {n} separate images"

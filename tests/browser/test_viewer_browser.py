"""notebooks/viewer.ipynb in real JupyterLab + headless Chromium (WebGL2 on SwiftShader).

One notebook session, several checks in order (each a test; they share the page):
the volume is drawn, a click moves the crosshair and Python sees the new world
position, a preset key changes ``viewer.window`` in Python, and a pen stroke in
ROI edit mode comes back from the kernel as a drawn mask diff. The state Python
sees is read from the notebook's own status line (an ``ipywidgets.HTML`` that
Python observers rewrite), so every check crosses the kernel.
"""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest

from .conftest import pixel_stats

pytestmark = pytest.mark.browser

# all four viewers of the notebook acknowledged a drawn frame with their layers
READY = """() => { const rs = [...document.querySelectorAll('.nora-viewer')];
                   return rs.length === 4 && rs.every(r => +r.dataset.ack > 0)
                          && rs.map(r => +r.dataset.layers).join() === '2,4,1,1'; }"""


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


def test_the_viewer_module_came_over_http_once_not_over_the_kernels_websocket(lab, page):
    from nora_lab.widgets.viewer import _bundle_hash

    modules = [r for r in lab.responses if "/nora/static/viewer-" in r[1]]
    assert modules == [(200, f"/nora/static/viewer-{_bundle_hash()}.js")], modules


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
    assert kinds == [True, False, False, True, False, True, False, True, False, False, True,
                     False]


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


# ---------------------------------------------------------------- the first minute (issue 20)
#
# A researcher opens a demo T1 (an MR) with ``Viewer(path, layout="2x2")`` and uses the mouse
# and keys. The kernel's state is read from a line that Python observers rewrite.

FIRST_MINUTE = [
    """from nora_lab.archive import Archive
from nora_lab.widgets import Viewer
import ipywidgets as W

proj = Archive.open().project("demo")
t1 = proj.files("s*.nii*", psid="demo01#MR1")["path"].iloc[0]
viewer = Viewer(t1, layout="2x2", height=560)
seen = W.HTML()
def show(_=None):
    w, bg = viewer.window, viewer.layers[0]
    opened = bg.get("open_window") or (0, 0)
    seen.value = (f"<code class='nora-mr-state'>PY window=({w[0]:.3f}, {w[1]:.3f}) "
                  f"layout={viewer.view_layout} modality={bg.get('modality')} "
                  f"open=({opened[0]:.3f}, {opened[1]:.3f}) colormap={bg['colormap']} "
                  f"visible={bg['visible']} "
                  f"dropped={','.join(getattr(viewer, 'dropped', []))}</code>")
viewer.observe(show, names=["window", "view_layout", "layers", "dropped"])
show()
W.VBox([viewer, seen])""",
]
MR_READY = """() => { const r = document.querySelector('.nora-viewer');
                      return !!r && +r.dataset.ack > 0 && r.dataset.layers === '1'
                             && !!document.querySelector('.nora-mr-state'); }"""


def _write_notebook(root, name: str, cells: list[str]) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, str(root / name))


def _notebook_page(lab, name: str, cells: list[str], ready: str, prefix: str):
    """A notebook of ``cells`` written into the Lab's folder, run until ``ready`` holds."""
    _write_notebook(lab.server.root_dir, name, cells)
    page = lab.run_notebook(name, ready, prefix, timeout=180)
    yield page
    lab.finish(page, prefix)


@pytest.fixture(scope="module")
def mr_page(lab):
    yield from _notebook_page(lab, "viewer_first_minute.ipynb", FIRST_MINUTE, MR_READY,
                              "viewer_mr")


def mr_state(page) -> dict:
    text = page.locator(".nora-mr-state").inner_text()
    m = re.search(r"window=\(([^)]*)\) layout=(\S+) modality=(\S+) open=\(([^)]*)\) "
                  r"colormap=(\S+) visible=(\S+)", text)
    assert m, text
    return {"window": tuple(float(x) for x in m.group(1).split(",")), "layout": m.group(2),
            "modality": m.group(3), "open": tuple(float(x) for x in m.group(4).split(",")),
            "colormap": m.group(5), "visible": m.group(6) == "True"}


def _wait_mr_change(page, before: str) -> None:
    page.wait_for_function(
        "b => document.querySelector('.nora-mr-state').innerText !== b", arg=before,
        timeout=30_000)


def tiles(png: bytes, rows: int, cols: int) -> list[dict]:
    """pixel_stats of each tile of a canvas split into rows × cols."""
    img = _rgb(png)
    w, h = img.size
    out = []
    for r in range(rows):
        for c in range(cols):
            buf = io.BytesIO()
            img.crop((c * w // cols, r * h // rows, (c + 1) * w // cols,
                      (r + 1) * h // rows)).save(buf, "PNG")
            out.append(pixel_stats(buf.getvalue()))
    return out


def test_viewer_with_a_path_in_2x2_draws_the_brain_in_every_viewport(lab, mr_page):
    root = mr_page.locator(".nora-viewer").first
    assert root.get_attribute("data-layout") == "2x2"
    # the four viewports show the same layers: four tiles of one canvas, one GPU upload
    assert root.get_attribute("data-shared") == "true"
    assert root.locator(".nora-vp:visible").count() == 1
    png = lab.shot(canvas(mr_page, 0, 0), "viewer_mr_2x2.png")
    for i, st in enumerate(tiles(png, 2, 2)):
        assert st["unique_colors"] > 50 and st["frac_non_dominant"] > 0.05, (i, st)
    assert mr_page.locator(".nora-vp-hint:visible").count() == 0


def test_right_drag_pans_without_jupyterlabs_context_menu(mr_page):
    cells = mr_page.locator(".jp-Notebook .jp-Cell").count()
    box = canvas(mr_page, 0, 0).bounding_box()
    x, y = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5
    mr_page.mouse.move(x, y)
    mr_page.mouse.down(button="right")
    for s in range(1, 8):
        mr_page.mouse.move(x + 6 * s, y + 3 * s)
    mr_page.mouse.up(button="right")
    mr_page.wait_for_timeout(300)
    assert mr_page.locator(".lm-Menu.jp-ContextMenu, .lm-Menu").count() == 0
    mr_page.keyboard.press("Escape")
    assert mr_page.locator(".jp-Notebook .jp-Cell").count() == cells


def test_ct_preset_keys_leave_an_mr_window_alone_and_0_is_auto(lab, mr_page):
    state = mr_state(mr_page)
    assert state["modality"] == "MR"
    canvas(mr_page, 0, 0).click(position={"x": 40, "y": 40})  # focus the viewer
    mr_page.wait_for_timeout(300)
    before = mr_state(mr_page)["window"]
    mr_page.keyboard.press("4")  # CT bone window: not for an MR
    mr_page.wait_for_timeout(800)
    assert mr_state(mr_page)["window"] == before
    lab.shot(canvas(mr_page, 0, 0), "viewer_mr_after_key4.png")
    st = pixel_stats(canvas(mr_page, 0, 0).screenshot())
    assert st["unique_colors"] > 50 and st["frac_non_dominant"] > 0.05, st


def test_double_click_returns_to_the_window_the_image_opened_with(lab, mr_page):
    cv = canvas(mr_page, 0, 0)
    box = cv.bounding_box()
    x, y = box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.3  # the axial tile
    opened = mr_state(mr_page)["open"]
    text = mr_page.locator(".nora-mr-state").inner_text()
    mr_page.mouse.move(x, y)  # middle drag = window
    mr_page.mouse.down(button="middle")
    for s in range(1, 10):
        mr_page.mouse.move(x + 12 * s, y - 8 * s)
    mr_page.mouse.up(button="middle")
    _wait_mr_change(mr_page, text)
    assert mr_state(mr_page)["window"] != pytest.approx(opened, rel=1e-3)
    text = mr_page.locator(".nora-mr-state").inner_text()
    cv.dblclick(position={"x": box["width"] * 0.25, "y": box["height"] * 0.25})
    _wait_mr_change(mr_page, text)
    mr_page.wait_for_timeout(500)
    assert mr_state(mr_page)["window"] == pytest.approx(opened, abs=1e-3)
    lab.shot(cv, "viewer_mr_after_reset.png")


# ---------------------------------------------------------------- controls on the canvas


def test_the_toolbar_shows_what_python_set_and_mr_presets_only(mr_page):
    bar = mr_page.locator(".nora-viewer .nora-toolbar").first
    assert bar.locator(".nora-layout").input_value() == "2x2"  # Viewer(..., layout="2x2")
    assert bar.locator(".nora-colormap").input_value() == "gray"
    presets = bar.locator(".nora-preset option").all_inner_texts()
    assert [p.split()[:2] for p in presets[1:]] == [["0", "auto"]], presets  # no CT windows
    level, width = mr_state(mr_page)["window"]
    assert float(bar.locator(".nora-level").input_value()) == pytest.approx(level, abs=0.01)
    assert float(bar.locator(".nora-width").input_value()) == pytest.approx(width, abs=0.01)


def test_toolbar_colormap_and_window_reach_the_kernel(lab, mr_page):
    bar = mr_page.locator(".nora-viewer .nora-toolbar").first
    text = mr_page.locator(".nora-mr-state").inner_text()
    bar.locator(".nora-colormap").select_option("hot")
    _wait_mr_change(mr_page, text)
    assert mr_state(mr_page)["colormap"] == "hot"
    text = mr_page.locator(".nora-mr-state").inner_text()
    bar.locator(".nora-level").fill("300")
    bar.locator(".nora-level").press("Enter")
    bar.locator(".nora-width").fill("500")
    bar.locator(".nora-width").press("Enter")
    mr_page.wait_for_function(
        "() => /window=\\(300\\.000, 500\\.000\\)/.test("
        "document.querySelector('.nora-mr-state').innerText)", timeout=30_000)
    mr_page.wait_for_timeout(500)
    hot = np.asarray(_rgb(lab.shot(canvas(mr_page, 0, 0), "viewer_mr_hot.png"))).astype(int)
    assert ((hot[..., 0] - hot[..., 2]) > 80).sum() > 500  # red-yellow brain, not grey
    bar.locator(".nora-colormap").select_option("gray")
    bar.locator(".nora-preset").select_option("0")  # auto window
    mr_page.wait_for_function(
        "() => /colormap=gray/.test(document.querySelector('.nora-mr-state').innerText)")


def test_help_lists_gestures_and_keys(mr_page):
    root = mr_page.locator(".nora-viewer").first
    assert not root.locator(".nora-help").is_visible()
    root.locator(".nora-help-btn").click()
    help_text = root.locator(".nora-help").inner_text()
    for words in ("right drag", "middle drag", "double click", "space", "x / y"):
        assert words in help_text
    root.locator(".nora-help-btn").click()
    assert not root.locator(".nora-help").is_visible()


def test_key_s_opens_the_layer_list_and_visibility_reaches_the_kernel(lab, mr_page):
    root = mr_page.locator(".nora-viewer").first
    canvas(mr_page, 0, 0).click(position={"x": 40, "y": 40})
    mr_page.keyboard.press("s")
    layers = root.locator(".nora-layers")
    layers.wait_for(state="visible")
    assert layers.locator(".nora-layer").count() == 1
    text = mr_page.locator(".nora-mr-state").inner_text()
    layers.locator(".nora-layer-visible").first.click()
    _wait_mr_change(mr_page, text)
    assert mr_state(mr_page)["visible"] is False
    mr_page.wait_for_timeout(500)
    st = pixel_stats(lab.shot(canvas(mr_page, 0, 0), "viewer_mr_hidden.png"))
    assert st["frac_non_dominant"] < 0.05, st  # only the crosshair / labels remain
    layers.locator(".nora-layer-visible").first.click()
    mr_page.wait_for_function(
        "() => /visible=True/.test(document.querySelector('.nora-mr-state').innerText)")
    box = canvas(mr_page, 0, 0).bounding_box()  # keys go to the viewer again (below the list)
    canvas(mr_page, 0, 0).click(position={"x": box["width"] - 40, "y": box["height"] - 40})
    mr_page.keyboard.press("s")
    layers.wait_for(state="hidden")


def test_keys_x_and_y_change_the_scroll_speed(mr_page):
    root = mr_page.locator(".nora-viewer").first
    canvas(mr_page, 0, 0).click(position={"x": 40, "y": 40})
    mr_page.keyboard.press("y")
    mr_page.keyboard.press("y")
    assert root.get_attribute("data-scroll-step") == "4"
    mr_page.keyboard.press("x")
    assert root.get_attribute("data-scroll-step") == "2"


def test_toolbar_layout_reaches_the_kernel(lab, mr_page):
    root = mr_page.locator(".nora-viewer").first
    root.locator(".nora-toolbar .nora-layout").select_option("1x3")
    mr_page.wait_for_function(
        "() => /layout=1x3/.test(document.querySelector('.nora-mr-state').innerText)")
    mr_page.wait_for_function(
        "() => document.querySelector('.nora-viewer').dataset.layout === '1x3'")
    assert root.get_attribute("data-shared") == "true"
    mr_page.wait_for_timeout(800)
    png = lab.shot(canvas(mr_page, 0, 0), "viewer_mr_1x3.png")
    for i, st in enumerate(tiles(png, 1, 3)):
        assert st["frac_non_dominant"] > 0.05, (i, st)


def test_a_dropped_local_file_is_drawn_and_not_uploaded(lab, mr_page, tmp_path):
    import base64

    import nibabel as nib

    blob = np.zeros((40, 40, 40), np.float32)
    blob[10:30, 10:30, 10:30] = 1000.0  # a bright cube around the world origin
    path = tmp_path / "local_cube.nii.gz"
    nib.Nifti1Image(blob, np.diag([2.0, 2.0, 2.0, 1.0]) @ _centred(40)).to_filename(path)
    data = base64.b64encode(path.read_bytes()).decode()
    root = mr_page.locator(".nora-viewer").first
    before = np.asarray(_rgb(canvas(mr_page, 0, 0).screenshot())).astype(int)
    sent = mr_page.evaluate("() => document.querySelector('.nora-viewer').dataset.ack")
    # a real drop event carrying a File, as the OS file manager delivers it
    mr_page.evaluate(
        """([data, name]) => {
             const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
             const dt = new DataTransfer();
             dt.items.add(new File([bytes], name));
             const target = document.querySelector('.nora-viewer .nora-vp canvas');
             target.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true}));
             target.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true}));
           }""", [data, path.name])
    mr_page.wait_for_function(
        "() => document.querySelector('.nora-viewer').dataset.dropped === '1'", timeout=30_000)
    mr_page.wait_for_timeout(800)
    after = np.asarray(_rgb(lab.shot(canvas(mr_page, 0, 0), "viewer_mr_dropped.png"))).astype(int)
    warm = lambda a: ((a[..., 0] - a[..., 2]) > 60).sum()  # noqa: E731
    assert warm(after) > after.shape[0] * after.shape[1] * 0.01 and warm(after) > warm(before)
    # the kernel holds the name, not the voxels: no new layer, nothing to acknowledge
    mr_page.wait_for_function(
        "() => /dropped=local_cube.nii.gz/.test("
        "document.querySelector('.nora-mr-state').innerText)")
    assert root.get_attribute("data-ack") == sent and root.get_attribute("data-layers") == "1"


def _centred(n: int) -> np.ndarray:
    a = np.eye(4)
    a[:3, 3] = -(n - 1) / 2
    return a


def test_3x3_layout_from_the_toolbar_draws_nine_tiles_of_one_canvas(lab, mr_page):
    root = mr_page.locator(".nora-viewer").first
    assert not root.locator(".nora-layers").is_visible()
    root.locator(".nora-toolbar .nora-layout").select_option("3x3")
    mr_page.wait_for_function(
        "() => /layout=3x3/.test(document.querySelector('.nora-mr-state').innerText)")
    mr_page.wait_for_function(
        "() => document.querySelector('.nora-viewer').dataset.layout === '3x3'")
    # nine viewports showing the same layers: one canvas, one GPU upload
    assert root.get_attribute("data-shared") == "true"
    assert root.locator(".nora-vp:visible").count() == 1
    mr_page.wait_for_timeout(800)
    png = lab.shot(canvas(mr_page, 0, 0), "viewer_mr_3x3.png")
    nine = tiles(png, 3, 3)
    for i, st in enumerate(nine):
        assert st["unique_colors"] > 50 and st["frac_non_dominant"] > 0.05, (i, st)
    # rows repeat axial | coronal | sagittal: the columns differ, the rows match
    assert nine[3]["frac_non_dominant"] == pytest.approx(nine[6]["frac_non_dominant"], abs=0.02)
    assert nine[3]["frac_non_dominant"] != pytest.approx(nine[5]["frac_non_dominant"], abs=0.01)


# ---------------------------------------------------------------- a look per viewport
#
# NORA: a property chosen with shift held applies to one viewport only. Python sets one with
# Viewer.set_appearance; the layer list does it with shift held. Viewports drawn differently
# cannot be tiles of one canvas: each gets its own.

APPEARANCE = [
    """from nora_lab.archive import Archive
from nora_lab.widgets import Viewer
import ipywidgets as W

proj = Archive.open().project("demo")
t1 = proj.files("s*.nii*", psid="demo01#MR1")["path"].iloc[0]
viewer = Viewer(t1, layout="1x3", height=300)
bg = viewer.layer(viewer.layers[0]["id"])
level, width = bg.window
viewer.set_appearance(bg, viewport=1, colormap="hot")
viewer.set_appearance(bg, viewport=2, window=(level - width / 4, width / 4))
seen = W.HTML()
def show(_=None):
    looks = [bg.appearance(i) for i in range(3)]
    seen.value = ("<code class='nora-look-state'>PY cmaps="
                  + ",".join(a["colormap"] for a in looks) + " widths="
                  + ",".join(f"{a['window'][1]:.0f}" for a in looks) + "</code>")
viewer.observe(show, names=["layers", "window"])
show()
W.VBox([viewer, seen])""",
]
LOOK_READY = """() => { const r = document.querySelector('.nora-viewer');
                        return !!r && +r.dataset.ack > 0 && r.dataset.layers === '1'
                               && !!document.querySelector('.nora-look-state'); }"""


@pytest.fixture(scope="module")
def look_page(lab):
    yield from _notebook_page(lab, "viewer_appearance.ipynb", APPEARANCE, LOOK_READY,
                              "viewer_look")


def _colour(a) -> dict:
    """Brain pixels of a canvas screenshot: their count and mean red-minus-blue."""
    brain = a.sum(-1) > 90
    return {"n": int(brain.sum()), "warm": float((a[..., 0] - a[..., 2])[brain].mean())}


def test_viewports_with_their_own_look_draw_differently(lab, look_page):
    root = look_page.locator(".nora-viewer").first
    assert root.get_attribute("data-shared") == "false"  # one canvas per viewport now
    assert root.locator(".nora-vp:visible").count() == 3
    look_page.wait_for_timeout(800)
    shots = [np.asarray(_rgb(lab.shot(canvas(look_page, 0, i), f"viewer_look_vp{i}.png")))
             .astype(int) for i in range(3)]
    gray, hot, narrow = (_colour(a) for a in shots)
    assert gray["n"] > 2000 and abs(gray["warm"]) < 10, gray  # grey: red = blue
    assert hot["n"] > 2000 and hot["warm"] > 60, hot  # hot: red-yellow
    # a narrow window about a low level: most of the brain saturates to white
    white = lambda a: (a.min(-1) > 240).sum()  # noqa: E731
    assert white(shots[2]) > 3 * max(white(shots[0]), 1), (white(shots[2]), white(shots[0]))


def test_shift_in_the_layer_list_sets_the_active_viewport_only(lab, look_page):
    root = look_page.locator(".nora-viewer").first
    state = look_page.locator(".nora-look-state")
    assert "cmaps=gray,hot,gray" in state.inner_text()
    canvas(look_page, 0, 0).click(position={"x": 60, "y": 60})  # viewport 0 is active
    look_page.keyboard.press("s")
    layers = root.locator(".nora-layers")
    layers.wait_for(state="visible")
    sel = layers.locator(".nora-layer-colormap").first
    assert sel.input_value() == "gray"
    text = state.inner_text()
    sel.focus()
    look_page.keyboard.down("Shift")
    sel.select_option("winter")
    look_page.keyboard.up("Shift")
    look_page.wait_for_function(
        "b => document.querySelector('.nora-look-state').innerText !== b", arg=text)
    assert "cmaps=winter,hot,gray" in state.inner_text()
    assert layers.locator(".nora-layer").first.get_attribute("data-own") == "colormap"
    look_page.wait_for_timeout(800)
    a = np.asarray(_rgb(lab.shot(canvas(look_page, 0, 0), "viewer_look_shift.png"))).astype(int)
    assert _colour(a)["warm"] < -30  # winter: blue-green
    # without shift: every viewport; what viewports had of the colormap goes
    text = state.inner_text()
    sel.select_option("gray")
    look_page.wait_for_function(
        "b => document.querySelector('.nora-look-state').innerText !== b", arg=text)
    assert "cmaps=gray,gray,gray" in state.inner_text()

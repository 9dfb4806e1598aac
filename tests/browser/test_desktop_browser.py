"""notebooks/quickstart.ipynb – the desk on the demo archive – in real JupyterLab + headless
Chromium (WebGL2 on SwiftShader). The Lab server's NORA_HOME is the session's demo archive.

One notebook session, checks in order (each a test; they share the page): the notebook runs and
the desk's viewer draws demo01's T1 with its GM/WM ROIs; a click moves the crosshair and Python
sees the new world position; a pen stroke drawn with the mouse changes the ROI tool's ROI in the
kernel and ctrl+z undoes it; the filter bar narrows the table (and a bad filter is shown
inline); a click with "add by clicking" on adds a marker point; clicking a row loads that study
and arrow down steps to the next one. What Python sees is read from the desk's state line
(``.nora-desk-python``) and the ROI tool's status, which only kernel-side observers write.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from .conftest import pixel_stats

pytestmark = pytest.mark.browser

DESK = ".nora-desk"
READY = """() => { const t = document.querySelector('.nora-desk .nora-table');
                   const v = document.querySelector('.nora-desk .nora-viewer');
                   const s = document.querySelector('.nora-desk-python');
                   return !!(t && v && s) && t.dataset.rows === '10' && t.dataset.total === '10'
                          && +v.dataset.ack > 0 && v.dataset.layers === '4'
                          && /study=demo01#MR1/.test(s.innerText); }"""


@pytest.fixture(scope="module")
def page(lab):
    page = lab.run_notebook("quickstart.ipynb", READY, "desk")
    yield page
    lab.finish(page, "desk")


def state(page) -> dict:
    text = page.locator(".nora-desk-python").first.inner_text()
    m = re.search(r"study=(\S+) position=\(([^)]*)\) value=(\S+) window=\(([^)]*)\) roi=(\S+)",
                  text)
    assert m, text
    return {"study": m.group(1), "position": tuple(float(x) for x in m.group(2).split(",")),
            "value": m.group(3), "roi": m.group(5)}


def wait_state_change(page, before: str, timeout=60_000) -> None:
    page.wait_for_function("b => document.querySelector('.nora-desk-python').innerText !== b",
                           arg=before, timeout=timeout)


def root(page):
    return page.locator(f"{DESK} .nora-viewer").first


def canvas(page):
    return root(page).locator(".nora-vp canvas").first


def table(page):
    return page.locator(f"{DESK} .nora-table").first


def test_quickstart_runs_without_errors(lab, page):
    assert lab.errors_in_outputs(page) == []
    assert root(page).get_attribute("data-error") is None
    assert not [line for line in lab.console if "[pageerror]" in line], lab.console
    # the table's module and Niivue come from the package
    assert lab.external_requests == []
    out = page.locator(".jp-OutputArea-output").all_inner_texts()
    assert any("crosshair at" in o for o in out)
    assert any("3 file(s) loaded" in o for o in out)   # the T1 and its two ROIs


def test_the_desk_viewer_draws_the_volume_with_webgl2(lab, page):
    info = canvas(page).evaluate(
        "c => { const g = c.getContext('webgl2'); return {webgl2: !!g, w: c.width, h: c.height}; }")
    assert info["webgl2"] and info["w"] > 250 and info["h"] > 250, info
    stats = pixel_stats(lab.shot(canvas(page), "desk_canvas.png"))
    # the T1 in three planes with ROI outlines and a red crosshair: many colours
    assert stats["unique_colors"] > 60, stats
    assert 0.05 < stats["frac_non_dominant"] < 0.95, stats
    assert stats["dominant"] == "#000000"
    # the table shows the demo's studies, demo01's selected
    assert table(page).get_attribute("data-selected") == "demo01#MR1"
    lab.shot(table(page), "desk_table.png")


def _clicked_point(page):
    box = canvas(page).bounding_box()
    return box["x"] + box["width"] * 0.22, box["y"] + box["height"] * 0.30


def test_click_moves_the_crosshair_and_python_sees_it(lab, page):
    before_text = page.locator(".nora-desk-python").first.inner_text()
    before = state(page)
    x, y = _clicked_point(page)
    page.mouse.click(x, y)
    wait_state_change(page, before_text)
    page.wait_for_timeout(300)                  # the page's position is saved within 20 ms
    page_pos = json.loads(root(page).get_attribute("data-position"))
    now = state(page)
    assert now["position"] != before["position"]
    assert now["position"] == pytest.approx(page_pos, abs=0.06)   # printed with one decimal
    assert now["study"] == before["study"]
    lab.shot(canvas(page), "desk_after_click.png")


def test_a_pen_stroke_changes_the_roi_tools_roi_in_the_kernel(lab, page):
    roi_state = page.locator(".nora-roi-state").first
    assert roi_state.get_attribute("data-voxels") == "0"
    before_png = np.asarray(_rgb(canvas(page).screenshot())).astype(int)
    page.keyboard.press(" ")                    # the canvas has the focus since the click
    page.wait_for_function(
        "() => document.querySelector('.nora-desk .nora-viewer').dataset.drawing === 'true'")
    x0, y0 = _clicked_point(page)
    page.mouse.move(x0, y0)
    page.mouse.down()
    for s in range(1, 14):
        page.mouse.move(x0 + 2 * s, y0 + 1 * s)
    page.mouse.up()
    page.wait_for_function(
        "() => +document.querySelector('.nora-roi-state').dataset.voxels > 10", timeout=60_000)
    voxels = int(roi_state.get_attribute("data-voxels"))
    assert state(page)["roi"] == f"lesion={voxels}"   # the desk's line: the ROI tool's current ROI
    ack = int(root(page).get_attribute("data-ack"))
    page.wait_for_function(
        f"() => +document.querySelector('.nora-desk .nora-viewer').dataset.ack >= {ack}")
    page.wait_for_timeout(800)
    after = np.asarray(_rgb(lab.shot(canvas(page), "desk_pen_stroke.png"))).astype(int)
    def cyan(a):  # the lesion ROI
        return (a[..., 1] - a[..., 0] > 60) & (a[..., 2] - a[..., 0] > 60)

    assert cyan(after).sum() > cyan(before_png).sum() + 20
    # ctrl+z in the viewer undoes the whole stroke in the kernel
    page.keyboard.press("Control+z")
    page.wait_for_function("() => document.querySelector('.nora-roi-state').dataset.voxels === '0'",
                           timeout=30_000)
    page.keyboard.press("Control+Shift+z")
    page.wait_for_function(
        f"() => document.querySelector('.nora-roi-state').dataset.voxels === '{voxels}'",
                           timeout=30_000)
    page.keyboard.press(" ")
    page.wait_for_function(
        "() => document.querySelector('.nora-desk .nora-viewer').dataset.drawing === 'false'")


def _rgb(png: bytes):
    import io

    from PIL import Image

    return Image.open(io.BytesIO(png)).convert("RGB")


def test_a_click_adds_a_marker_point_in_the_kernel(lab, page):
    page.locator(f"{DESK} .lm-TabBar-tab", has_text="Marker tool").click()
    page.locator(".nora-marker-adding button, button.nora-marker-adding").first.click()
    assert page.locator(".nora-marker-state").first.get_attribute("data-points") == "0"
    x, y = _clicked_point(page)
    page.mouse.click(x + 12, y + 6)
    page.wait_for_function(
        "() => document.querySelector('.nora-marker-state').dataset.points === '1'",
                           timeout=30_000)
    page.wait_for_timeout(300)
    # the click moved the crosshair too
    pos = json.loads(root(page).get_attribute("data-position"))
    row = page.locator(".nora-marker-points").first.inner_text()
    assert f"({pos[0]:.1f}, {pos[1]:.1f}, {pos[2]:.1f}) mm" in row
    page.locator(".nora-marker-adding button, button.nora-marker-adding").first.click()
    lab.shot(page.locator(".nora-marker-tool").first, "desk_marker_tool.png")


def test_the_filter_bar_narrows_the_table(lab, page):
    t = table(page)
    bar = t.locator("input[data-col='subject']")
    bar.fill("4MR")
    bar.press("Enter")
    page.wait_for_function(
        "() => { const t = document.querySelector('.nora-desk .nora-table');"
        " return t.dataset.rows === '1' && t.dataset.total === '1'; }", timeout=30_000)
    assert t.locator("tbody tr").evaluate_all("rs => rs.map(r => r.dataset.psid)") == ["4MR1#4MR1"]
    lab.shot(t, "desk_table_filtered.png")
    # an unterminated quote: the archive's message, inline
    bar.fill('"4MR')
    bar.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('.nora-desk .nora-table').dataset.error !== ''")
    assert "unterminated double quote" in t.locator(".nora-table-error").inner_text()
    assert t.get_attribute("data-rows") == "1"  # the last good page stays
    files = t.locator("input[data-col='files']")
    bar.fill("")
    files.fill("*.bval")                        # the file-search bar: the DTI study only
    files.press("Enter")
    page.wait_for_function(
        "() => { const t = document.querySelector('.nora-desk .nora-table');"
        " return t.dataset.error === '' && t.dataset.total === '1'; }", timeout=30_000)
    assert t.locator("tbody tr").evaluate_all("rs => rs.map(r => r.dataset.psid)") == ["1234#1"]
    files.fill("")
    files.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('.nora-desk .nora-table').dataset.total === '10'",
                           timeout=30_000)


def test_a_row_click_loads_the_study_and_arrow_down_steps(lab, page):
    t = table(page)
    before = page.locator(".nora-desk-python").first.inner_text()
    t.locator("tbody tr[data-psid='1CT1#1CT1']").click()
    page.wait_for_function(
        "() => /study=1CT1#1CT1/.test(document.querySelector('.nora-desk-python').innerText)",
                           timeout=60_000)
    assert before != page.locator(".nora-desk-python").first.inner_text()
    assert t.locator(".nora-file").evaluate_all("fs => fs.map(f => f.dataset.relpath)") == [
        "1_CT/s001.json", "1_CT/s001.nii.gz"]
    page.keyboard.press("ArrowDown")            # the table has the focus after the click
    page.wait_for_function(
        "() => /study=4MR1#4MR1/.test(document.querySelector('.nora-desk-python').innerText)",
                           timeout=60_000)
    assert t.get_attribute("data-selected") == "4MR1#4MR1"
    # the Python status shows the new study as soon as loading starts; the load line
    # once the autoloader is done
    page.wait_for_function(
        "() => /4MR1#4MR1: 1 file\\(s\\) "
        "loaded/.test(document.querySelector('.nora-desk-load').innerText)",
        timeout=60_000)
    ack = int(root(page).get_attribute("data-ack"))
    page.wait_for_function(
        f"() => +document.querySelector('.nora-desk .nora-viewer').dataset.ack >= {ack}",
        timeout=60_000)
    lab.shot(page.locator(DESK).first, "desk_after_step.png")

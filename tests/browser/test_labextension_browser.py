"""nora_lab's JupyterLab extension in real JupyterLab + headless Chromium: a double-click on an
image in the file browser opens it in a viewer document (drawn by Niivue from the server's
/files/ URL, the bytes never going through the contents API), and the launcher's "NORA desk"
opens the desk: the study table in the left side panel, the viewer and tools in the main area,
on the session's demo archive."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from .conftest import pixel_stats

pytestmark = pytest.mark.browser

DEMO_STUDY = ("data", "demo", "demo01", "MR1")


@pytest.fixture(scope="module")
def images(lab, demo_home):
    """demo01's T1 and pial surface, and a small tract file, in the Lab's folder images/."""
    import nibabel as nib
    from nibabel.streamlines import Tractogram

    study = demo_home.joinpath(*DEMO_STUDY)
    folder = lab.server.root_dir / "images"
    folder.mkdir(exist_ok=True)
    shutil.copy(study / "2_T1_MPRAGE" / "s002.nii.gz", folder / "demo01_t1.nii.gz")
    shutil.copy(study / "surf" / "lh.pial.gii", folder / "demo01_lh.pial.gii")
    t = np.linspace(0, 1, 40)[:, None]
    lines = [np.hstack([t * 60 - 30, np.sin(t * 6 + k) * 10 + k * 4, t * 0 + k * 3]).astype(
        np.float32) for k in range(8)]
    nib.streamlines.save(Tractogram(lines, affine_to_rasmm=np.eye(4)), str(folder / "arcs.tck"))
    return folder


@pytest.fixture(scope="module")
def lab_page(lab, images):
    lab.server.delete_sessions()
    ctx = lab.browser.new_context(viewport={"width": 1400, "height": 900}, device_scale_factor=1)
    page = ctx.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: lab.console.append(f"[{m.type}] {m.text}"[:500]))
    page.on("pageerror", lambda e: lab.console.append(f"[pageerror] {e}"[:1500]))
    page.goto(f"{lab.server.url}/lab/tree/images?reset", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-DirListing-item", timeout=90_000)
    page.requests = requests  # type: ignore[attr-defined]
    yield page
    page.screenshot(path=str(lab.artifacts / "labext_end.png"))
    lab.close(page)


def open_by_double_click(page, name: str):
    """Double-click ``name`` in the file browser; the viewer document once it has drawn."""
    page.locator(".jp-DirListing-itemText", has_text=name).first.dblclick()
    page.wait_for_function(
        """n => [...document.querySelectorAll('.nora-doc')].some(
                 d => d.querySelector('.nora-doc-info').innerText.includes(n)
                      && d.dataset.state !== 'loading')""", arg=name, timeout=90_000)
    doc = page.locator(".nora-doc", has=page.locator(".nora-doc-info", has_text=name)).first
    assert doc.get_attribute("data-error") is None, doc.get_attribute("data-error")
    assert doc.get_attribute("data-state") == "ready"
    assert doc.is_visible()  # the new tab is the current one
    page.wait_for_timeout(800)
    return doc


def new_launcher(page) -> None:
    """The "+" of the main area's tab bar: a new launcher."""
    page.locator(".lm-DockPanel .lm-TabBar-addButton:visible").first.click()


def test_double_clicking_a_nifti_opens_the_demo_brain_in_a_viewer_document(lab, lab_page):
    doc = open_by_double_click(lab_page, "demo01_t1.nii.gz")
    tab = lab_page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
    assert "demo01_t1.nii.gz" in tab.first.inner_text()
    assert len(json.loads(doc.get_attribute("data-dims"))) == 3
    stats = pixel_stats(lab.shot(doc.locator("canvas"), "labext_nifti.png"))
    assert stats["unique_colors"] > 100 and 0.1 < stats["frac_non_dominant"] < 0.9, stats
    assert "demo01_t1.nii.gz" in doc.locator(".nora-doc-info").inner_text()
    # the bytes came once, as stored, from /files/; the contents API only gave metadata
    files = [u for u in lab_page.requests if "/files/images/demo01_t1.nii.gz" in u]
    contents = [u for u in lab_page.requests if "/api/contents/images/demo01_t1.nii.gz" in u]
    assert len(files) == 1
    assert any("content=0" in u for u in contents), contents
    assert not any("content=1" in u for u in contents), contents


def test_double_clicking_a_surface_and_tracts_draws_them_in_3d(lab, lab_page):
    for name in ("demo01_lh.pial.gii", "arcs.tck"):
        doc = open_by_double_click(lab_page, name)
        st = pixel_stats(lab.shot(doc.locator("canvas"), f"labext_{name}.png"))
        assert st["frac_non_dominant"] > 0.005 and st["unique_colors"] > 20, (name, st)


def test_the_launchers_nora_desk_opens_the_table_aside_and_the_viewer_in_the_main_area(
        lab, lab_page):
    new_launcher(lab_page)
    card = lab_page.locator(".jp-Launcher:visible .jp-LauncherCard", has_text="NORA desk").first
    card.wait_for(timeout=30_000)
    card.click()
    table = lab_page.locator("#jp-left-stack .nora-desk-side .nora-table")
    table.wait_for(timeout=180_000)
    lab_page.wait_for_function(
        "() => document.querySelector('#jp-left-stack .nora-table').dataset.total === '10'",
        timeout=120_000)
    viewer = lab_page.locator(".jp-MainAreaWidget.nora-desk-main .nora-viewer").first
    viewer.wait_for(timeout=60_000)
    assert lab_page.locator("#jp-left-stack").bounding_box()["width"] > 400  # room for the table
    # a click on demo01's row in the side panel loads it into the main area's viewer
    table.locator("tbody tr[data-psid='demo01#MR1']").click()
    lab_page.wait_for_function(
        "() => { const v = document.querySelector('.nora-desk-main .nora-viewer');"
        "        return !!v && +v.dataset.layers > 0 && +v.dataset.ack > 0; }", timeout=120_000)
    lab_page.wait_for_timeout(1500)
    lab.shot(lab_page.locator("#main"), "labext_desk.png")
    stats = pixel_stats(lab.shot(viewer.locator(".nora-vp canvas").first,
                                 "labext_desk_viewer.png"))
    assert stats["unique_colors"] > 100 and stats["frac_non_dominant"] > 0.1, stats
    assert lab_page.locator(".jp-Notebook .jp-OutputArea-output[data-mime-type="
                            "'application/vnd.jupyter.stderr']").count() == 0


def test_the_desk_opened_again_replaces_its_panels(lab, lab_page):
    lab_page.evaluate("() => document.querySelectorAll('.nora-desk-side, .nora-desk-main')"
                      ".forEach(e => e.dataset.old = '1')")
    new_launcher(lab_page)
    lab_page.locator(".jp-Launcher:visible .jp-LauncherCard", has_text="NORA desk").first.click()
    lab_page.wait_for_function(
        "() => document.querySelector('.nora-desk-side:not([data-old]) .nora-table')"
        "?.dataset.total === '10'", timeout=180_000)
    lab_page.locator(".nora-desk-main:not([data-old]) .nora-viewer").first.wait_for(
        timeout=60_000)
    assert lab_page.locator(".nora-desk-side").count() == 1
    assert lab_page.locator(".nora-desk-main").count() == 1
    # the notebook was written once and is reused
    names = lab.server.api("GET", "/api/contents/images")["content"]
    assert [f["name"] for f in names].count("NORA desk.ipynb") == 1

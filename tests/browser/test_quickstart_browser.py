"""The quickstart's first viewer shows anatomy: notebooks/quickstart.ipynb in real
JupyterLab + headless Chromium (WebGL2 on SwiftShader), on the demo archive of
``make lab`` (the session's ``NORA_HOME``).

The desk opens ``demo01``'s T1 with its GM and WM ROIs as outlines. Screenshots of the
viewer's canvas must look like a brain: tissue over a large part of the canvas, many
grey levels, and fine structure (sulci, ventricles, folia) — measured on the bare T1
after the ROIs are hidden with their visibility buttons. The same measure must fail on
a study without such anatomy (the vendor DTI the old quickstart showed, loaded by
clicking its row) and on a black canvas, so it can fail. One page, checks in order.
Screenshots: ``artifacts/browser/quickstart_*.png``.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

pytestmark = pytest.mark.browser

DESK = ".nora-desk"
# T1 + GM + WM + the empty "lesion" ROI
READY = """() => { const v = document.querySelector('.nora-desk .nora-viewer');
                   const s = document.querySelector('.nora-desk-python');
                   return !!(v && s) && +v.dataset.ack > 0 && v.dataset.layers === '4'
                          && /study=demo01#MR1/.test(s.innerText); }"""


@pytest.fixture(scope="module")
def page(lab):
    page = lab.run_notebook("quickstart.ipynb", READY, "quickstart")
    yield page
    lab.finish(page, "quickstart")


def canvas(page):
    return page.locator(f"{DESK} .nora-viewer .nora-vp canvas").first


def measure(png: bytes) -> dict:
    """What an RGB screenshot of a viewer shows.

    ``shown``: the fraction of the canvas brighter than a fifth of the brightest grey,
    or coloured (ROIs, crosshair); ``tissue``: the same for grey pixels only;
    ``levels``: distinct grey levels of the tissue; ``iqr``: the spread of its grey
    levels; ``structure``: the fraction of tissue pixels (away from its border) where
    the grey changes by more than 3 % of the brightest grey per pixel (after a 1 px
    Gaussian): sulci, ventricles and folia make many, a blurred blob or flat bands few;
    ``red``, ``yellow``: pixels of the GM and WM ROIs' colours.
    """
    from PIL import Image
    from scipy import ndimage

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.float32)
    lum = rgb.mean(axis=2)
    grey = (rgb.max(axis=2) - rgb.min(axis=2)) < 24
    top = float(np.percentile(lum[grey], 99.5)) if grey.any() else 0.0
    bright = lum > max(0.2 * top, 1.0)
    tissue = grey & bright
    inner = ndimage.binary_erosion(tissue, iterations=3)
    smooth = ndimage.gaussian_filter(lum, 1.0)
    gradient = np.hypot(ndimage.sobel(smooth, 0), ndimage.sobel(smooth, 1)) / 8.0
    values = lum[tissue]
    q1, q3 = np.percentile(values, [25, 75]) if values.size else (0.0, 0.0)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return {"shown": float((bright | ~grey).mean()), "tissue": float(tissue.mean()),
            "levels": int(np.unique(values.round()).size), "iqr": float(q3 - q1),
            "structure": float((gradient[inner] > 0.03 * top).mean()) if inner.any() else 0.0,
            "red": int(((r > 150) & (g < 90) & (b < 90)).sum()),
            "yellow": int(((r > 150) & (g > 150) & (b < 90)).sum())}


def anatomy(m: dict) -> bool:
    """A brain at 1 mm: tissue on > 25 % of the canvas, a spread of grey levels, structure."""
    return m["tissue"] > 0.25 and m["levels"] > 100 and m["iqr"] > 30 and m["structure"] > 0.15


def test_quickstart_runs_without_errors(lab, page):
    assert lab.errors_in_outputs(page) == []
    assert not [line for line in lab.console if "[pageerror]" in line], lab.console
    out = "\n".join(page.locator(".jp-OutputArea-output").all_inner_texts())
    assert "demo01#MR1: 3 file(s) loaded" in out       # the T1 and its two ROIs
    assert "ROIs: ['gm', 'wm', 'lesion']" in out
    assert "QC failed: ['demo06#MR1']" in out


def test_the_first_viewer_shows_the_t1_with_its_roi_outlines(lab, page):
    info = canvas(page).evaluate(
        "c => { const g = c.getContext('webgl2'); return {webgl2: !!g, w: c.width, h: c.height}; }")
    assert info["webgl2"] and info["w"] > 250 and info["h"] > 250, info
    m = measure(lab.shot(canvas(page), "quickstart_t1_rois.png"))
    assert m["shown"] > 0.25 and m["levels"] > 100 and m["iqr"] > 30, m
    assert m["red"] > 2000 and m["yellow"] > 2000, m      # GM red, WM yellow


def test_the_bare_t1_is_a_brain(lab, page):
    rows = page.locator(f"{DESK} .nora-roi-row")
    assert rows.count() == 3
    for i in (0, 1):                                     # hide GM and WM
        rows.nth(i).locator("button", has_text="👁").click()
    png, m = b"", {}
    for _ in range(40):                                  # until the page drew it
        page.wait_for_timeout(500)
        png = canvas(page).screenshot()
        m = measure(png)
        if m["yellow"] == 0:
            break
    (lab.artifacts / "quickstart_t1_canvas.png").write_bytes(png)
    assert m["yellow"] == 0, m
    assert anatomy(m), m


def test_the_measure_fails_without_anatomy(lab, page):
    from PIL import Image

    black = io.BytesIO()
    Image.new("RGB", (400, 300)).save(black, format="PNG")
    assert not anatomy(measure(black.getvalue()))
    # the vendor DTI (the old quickstart's view): flat bands at 2 mm, no anatomy
    page.locator(f"{DESK} .nora-table tbody tr[data-psid='1234#1']").click()
    page.wait_for_function(
        "() => /1234#1: 1 file\\(s\\) "
        "loaded/.test(document.querySelector('.nora-desk-load').innerText)",
        timeout=60_000)
    page.wait_for_function(
        "() => document.querySelector('.nora-desk .nora-viewer').dataset.layers === '1'",
                           timeout=60_000)
    page.wait_for_timeout(1500)
    m = measure(lab.shot(canvas(page), "quickstart_dti_canvas.png"))
    assert m["tissue"] > 0.25, m                         # something is drawn …
    assert not anatomy(m), m                             # … but it is no brain

"""`make lab`'s path: the demo archive is built through the import, and the quickstart runs.

The demo (:mod:`nora_lab.demo`) is a cohort of six subjects with real anatomy (the
MNI152 template shipped in nilearn, each subject in its own pose, with its own bias
field, gain and noise), written as DICOM and imported through the real import path,
with GM/WM ROIs and a pial surface per subject, one QC job in error, and the vendor
series shipped in nibabel and pydicom.
"""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nora_lab.archive import Archive, job_states
from nora_lab.demo import main as build_demo
from nora_lab.testing.notebooks import run_notebook

COHORT = [f"demo0{i}#MR1" for i in range(1, 7)]
VENDOR = ["1234#1", "1CT1#1CT1", "4MR1#4MR1"]  # and the Philips phantom's study
T1 = "2_T1_MPRAGE/s002.nii.gz"


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo-home")
    assert build_demo([str(home)]) == 0
    return home


@pytest.fixture
def proj(demo_home):
    arc = Archive.open(demo_home)
    yield arc.project("demo")
    arc.close()


def _snapshot(home: Path) -> dict:
    """Every file under the home (path → size, mtime) and the archive's rows."""
    arc = Archive.open(home)
    try:
        p = arc.project("demo")
        files = {str(q): (q.stat().st_size, q.stat().st_mtime_ns)
                 for q in Path(home, "data").rglob("*") if q.is_file()}
        rows = p.files()[["psid", "relpath", "size", "tags"]].astype(str).values.tolist()
        studies = p.studies()[["psid", "tags"]].astype(str).values.tolist()
        jobs = job_states.table(p)[["id", "psid", "state", "ended"]].astype(str).values.tolist()
        recipes = p.list_json("autoloader").astype(str).values.tolist()
    finally:
        arc.close()
    return {"files": files, "rows": rows, "studies": studies, "jobs": jobs, "recipes": recipes}


def test_demo_holds_the_cohort_and_the_vendor_series(proj):
    studies = proj.studies()
    assert len(studies) == 10
    assert [p for p in studies["psid"] if p.startswith("demo")] == COHORT
    assert set(VENDOR) <= set(studies["psid"])
    assert any("MPRAGE" in r for r in proj.files("*.nii", filters={"subject": "R3.2.2"})["relpath"])
    tags = dict(zip(studies["psid"], studies["tags"], strict=True))
    assert [tags[p] for p in COHORT] == [["control"], ["patient"]] * 3
    assert proj.studies({"subject": "STAG:patient"})["psid"].tolist() == COHORT[1::2]
    for psid in COHORT:
        files = proj.files(psid=psid)
        got = dict(zip(files["relpath"], files["tags"], strict=True))
        assert got[T1] == ["t1"]
        assert got["rois/gm.nii.gz"] == ["gm", "roi"] and got["rois/wm.nii.gz"] == ["roi", "wm"]
        assert got["surf/lh.pial.gii"] == ["surface"]


def test_each_t1_is_an_imported_1mm_mr_series(proj):
    files = proj.files("2_T1*/s*.nii", meta_keys=["Modality", "SeriesDescription", "Manufacturer",
                                                    "PatientID", "NoraArchive"])
    assert files["psid"].tolist() == COHORT
    for row in files.itertuples():
        assert (row.Modality, row.SeriesDescription) == ("MR", "T1 MPRAGE")
        assert row.PatientID == row.psid.split("#")[0] and row.Manufacturer
        assert row.NoraArchive["converter"].startswith("dcm2niix")   # the real import path
        img = nib.load(row.path)
        assert img.get_data_dtype() == np.int16 and img.header.get_zooms() == (1.0, 1.0, 1.0)
        assert min(img.shape) > 150 and row.NoraArchive["instances"] == img.shape[2]


def test_subjects_differ_as_real_ones_do(proj):
    t1 = [nib.load(p).get_fdata(dtype=np.float32) for p in proj.files("2_T1*/s*.nii")["path"]]
    for a, b in zip(t1, t1[1:], strict=False):
        assert a.shape == b.shape and np.corrcoef(a.ravel(), b.ravel())[0, 1] < 0.98  # poses
    means = [float(a[a > 300].mean()) for a in t1]
    assert max(means) - min(means) > 20                      # gain, offset, bias
    corners = [float(a[:10, :10, -10:].std()) for a in t1]    # air: the noise
    assert corners[5] > 3 * max(corners[:5])                  # demo06's noisy coil


def test_rois_and_surface_line_up_with_the_t1_in_world_space(proj):
    from nibabel.processing import resample_from_to
    from scipy import ndimage

    from nora_lab.demo.scan import resample
    from nora_lab.demo.templates import load_templates

    templates = load_templates()
    for psid in COHORT:
        d = proj.study_dir(psid)
        t1 = nib.load(d / T1)
        a = t1.get_fdata(dtype=np.float32)
        gm, wm = (nib.load(d / f"rois/{n}.nii.gz") for n in ("gm", "wm"))
        assert gm.get_data_dtype() == np.uint8
        # each ROI, brought onto the T1's grid through world coordinates
        g, w = (np.asarray(resample_from_to(r, t1, order=0).dataobj) > 0 for r in (gm, wm))
        assert 400_000 < g.sum() and 300_000 < w.sum() and not (g & w).any()
        assert a[w].mean() > 1.15 * a[g].mean()               # T1 contrast: WM brighter
        # the bright half of the brain is the WM ROI; without the pose it fits worse
        thr = float(a[g | w].mean())
        for _ in range(20):
            thr = (a[(g | w) & (a > thr)].mean() + a[(g | w) & (a <= thr)].mean()) / 2
        bright = (a > thr) & (g | w)
        unposed = resample(templates.wm, templates.affine, t1.affine, t1.shape, np.eye(4)) > 0.5

        def dice(x, y):
            return 2 * (x & y).sum() / (x.sum() + y.sum())

        assert dice(bright, w) > 0.72 and dice(bright, w) > dice(bright, unposed) + 0.08, psid
        # the pial surface runs along the GM ROI
        surf = nib.load(d / "surf/lh.pial.gii")
        ijk = np.rint(nib.affines.apply_affine(np.linalg.inv(t1.affine),
                                               surf.agg_data("NIFTI_INTENT_POINTSET"))).astype(int)
        assert (ndimage.distance_transform_edt(~g)[tuple(ijk.T)] <= 2).mean() > 0.9, psid


def test_one_qc_job_is_in_error(proj):
    rows = job_states.table(proj, name="t1_qc")
    states = dict(zip(rows["psid"], rows["state"], strict=True))
    assert states == {p: ("e" if p == "demo06#MR1" else "d") for p in COHORT}
    assert proj.studies({"subject": "JOB:e"})["psid"].tolist() == ["demo06#MR1"]
    assert "SNR" in Path(rows[rows["state"] == "e"]["log"].iloc[0]).read_text()
    assert proj.files("qc/t1_snr.json")["psid"].tolist() == COHORT[:5]


def test_the_t1_review_recipe_loads_t1_rois_and_surface(proj):
    from nora_lab.widgets import Autoloader, Viewer

    viewer = Viewer()
    report = Autoloader.load(proj, "t1 review").apply(proj, "demo02#MR1", viewer)
    assert not report.missing and not report.errors, str(report)
    assert [(rel, role) for _, rel, role in report.loaded] == [
        (T1, "background"), ("rois/gm.nii.gz", "mask"), ("rois/wm.nii.gz", "mask"),
        ("surf/lh.pial.gii", "surface")]
    assert viewer.view_layout == "2x2"


def test_building_the_demo_again_adds_and_rewrites_nothing(demo_home, capsys):
    before = _snapshot(demo_home)
    assert build_demo([str(demo_home)]) == 0
    assert "nothing added" in capsys.readouterr().out
    assert _snapshot(demo_home) == before


def test_the_cohort_is_the_same_bytes_every_time(tmp_path):
    from nora_lab.demo.cohort import cohort
    from nora_lab.demo.scan import acquire, scanner_grid
    from nora_lab.demo.series import write_series
    from nora_lab.demo.templates import load_templates

    templates = load_templates()
    grid = scanner_grid(templates)
    subject = cohort()[1]
    for run in ("a", "b"):
        write_series(subject, acquire(subject, templates, grid), grid, tmp_path / run)
    names = sorted(os.listdir(tmp_path / "a"))
    assert names == sorted(os.listdir(tmp_path / "b")) and len(names) == grid.shape[2]
    assert all((tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes()
               for n in names)


def test_a_half_built_demo_is_completed(tmp_path):
    from nora_lab.demo import build_demo as build

    home = tmp_path / "home"
    build(home, subjects=1)
    arc = Archive.open(home)
    p = arc.project("demo")
    p.remove_file("demo01#MR1", "rois/wm.nii.gz")           # as if killed before the ROIs
    report = build(home, subjects=1)
    assert report.made == ["demo01#MR1"] and report.qc is None
    assert report.cohort.count("already imported") == 1     # the T1 is not imported again
    assert "rois/wm.nii.gz" in p.files(psid="demo01#MR1")["relpath"].tolist()
    arc.close()


@pytest.mark.notebook
def test_quickstart_notebook_runs_on_the_demo_archive(demo_home, monkeypatch):
    monkeypatch.setenv("NORA_HOME", str(demo_home))
    text = run_notebook("quickstart.ipynb")
    assert "demo01#MR1: 3 file(s) loaded" in text              # the T1 and its GM/WM ROIs
    assert "ROIs: ['gm', 'wm', 'lesion']" in text
    assert "QC failed: ['demo06#MR1']" in text and "is below 20" in text
    assert "crosshair at" in text

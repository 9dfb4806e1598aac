"""Real anatomy for the catalogue's tests: nilearn's MNI152 (inside its wheel), cropped
to the head and at 2 or 3 mm so that every test runs in seconds on two cores; projects of
such studies; a synthetic DWI made with dipy's own tools. (Helpers only: no tests here.)"""

from __future__ import annotations

import functools
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nora_lab.archive import Archive


@functools.cache
def mni(res: int = 3) -> dict[str, nib.Nifti1Image]:
    """MNI152 T1 (scaled to 0..1000), brain mask, GM and WM maps at ``res`` mm, cropped to
    the brain's bounding box plus a margin of 3 voxels."""
    from nilearn import datasets

    imgs = {"t1": datasets.load_mni152_template(resolution=res),
            "mask": datasets.load_mni152_brain_mask(resolution=res),
            "gm": datasets.load_mni152_gm_template(resolution=res),
            "wm": datasets.load_mni152_wm_template(resolution=res)}
    m = imgs["mask"].get_fdata() > 0
    lo = np.maximum(np.argwhere(m).min(0) - 3, 0)
    hi = np.argwhere(m).max(0) + 4
    out = {}
    for k, img in imgs.items():
        data = img.get_fdata()[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        if k == "t1":
            data = (data * 1000).astype(np.float32)
        elif k == "mask":
            data = data.astype(np.uint8)
        else:
            data = data.astype(np.float32)
        out[k] = nib.Nifti1Image(data, img.affine @ np.vstack([np.c_[np.eye(3), lo], [0, 0, 0, 1]]))
    return out


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    return 2.0 * (a & b).sum() / (a.sum() + b.sum())


def open_project(tmp_path: Path, name: str = "cat"):
    """A project in a new SQLite archive (the catalogue's tests are about images, not
    about database backends: those run the batch contract on both)."""
    arc = Archive.open(f"sqlite:///{tmp_path / 'archive.sqlite'}", root=tmp_path / "data",
                       user="alice")
    return arc, arc.create_project(name)


def add_t1_studies(project, tmp_path: Path, n: int, res: int = 3, *, extra=None) -> list[str]:
    """Subjects S00.. with study MR1 holding ``t1/t1.nii.gz`` (the MNI T1, each a little
    brighter) and the template's ``rois/gm``/``rois/wm`` masks; returns PSIDs."""
    imgs = mni(res)
    psids = []
    for i in range(n):
        sid = project.add_subject(f"S{i:02d}")
        psid = project.add_study(sid, "MR1", date=f"2021-02-{i + 1:02d}", description="MR head")
        t1 = nib.Nifti1Image(imgs["t1"].get_fdata(dtype=np.float32) * (1 + 0.1 * i), imgs["t1"].affine)
        src = tmp_path / f"t1_{i}.nii.gz"
        nib.save(t1, src)
        project.add_file(src, psid, "t1/t1.nii.gz", tags=["t1"])
        for k in ("gm", "wm"):
            roi = nib.Nifti1Image((imgs[k].get_fdata() > 0.5).astype(np.uint8), imgs[k].affine)
            p = tmp_path / f"{k}_{i}.nii.gz"
            nib.save(roi, p)
            project.add_file(p, psid, f"rois/{k}.nii.gz", tags=["roi"])
        for rel, img in (extra or {}).items():
            p = tmp_path / f"x{i}_{Path(rel).name}"
            nib.save(img, p)
            project.add_file(p, psid, rel)
        psids.append(psid)
    return psids


@pytest.fixture
def cat_project(tmp_path):
    arc, proj = open_project(tmp_path)
    yield proj
    arc.close()


@pytest.fixture(scope="session")
def templates_home(tmp_path_factory):
    """One NORA home for the session's tests, so the MNI templates are written once."""
    return tmp_path_factory.mktemp("catalogue_home")


@pytest.fixture
def home(templates_home, monkeypatch):
    """Use the session's NORA home (after conftest's per-test one: no user settings)."""
    monkeypatch.setenv("NORA_HOME", str(templates_home))
    return templates_home


def save(img, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, path)
    return str(path)


def synthetic_dwi(shape=(10, 8, 4)):
    """A small DWI made with dipy's tools: its bundled 55-direction gradient table (plus a
    b0) and one tensor per voxel (dipy.sims.voxel.single_tensor), fibres running along x
    with FA rising along y; returns (image, bvals, bvecs)."""
    from dipy.core.gradients import gradient_table
    from dipy.data import get_fnames
    from dipy.io.gradients import read_bvals_bvecs
    from dipy.sims.voxel import single_tensor

    bvals, bvecs = read_bvals_bvecs(*get_fnames(name="55dir_grad"))
    gtab = gradient_table(bvals, bvecs=bvecs)
    data = np.zeros((*shape, len(bvals)), np.float32)
    rng = np.random.default_rng(0)
    for j in range(shape[1]):
        perp = 0.3e-3 + 0.5e-3 * (1 - j / (shape[1] - 1))      # FA from ~0.45 up to ~0.8
        evals = np.array([1.7e-3, perp, perp])
        for i in range(shape[0]):
            for k in range(shape[2]):
                sig = single_tensor(gtab, S0=1000, evals=evals, evecs=np.eye(3), snr=None)
                data[i, j, k] = sig + rng.normal(0, 5, sig.shape)
    return nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0])), bvals, bvecs

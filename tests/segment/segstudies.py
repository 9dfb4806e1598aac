"""Small labelled studies made in the test: a bright core ("wm") in a dimmer shell ("gm").

Not in ``conftest.py`` (see tests/batch/batchstudies.py for why).
"""

from __future__ import annotations

import nibabel as nib
import numpy as np

SHAPE = (32, 32, 32)
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
#: a tiny, quick model for these studies
TINY = {"spacing": 2.0, "patch": 16, "batch_size": 2, "channels": (4, 8), "strides": (2,),
        "epochs": 2, "steps_per_epoch": 6, "learning_rate": 0.02, "validation": 1,
        "res_units": 0}
LABELS = {"gm": "rois/gm.nii.gz", "wm": "rois/wm.nii.gz"}
IMAGE = "t1/s001.nii.gz"


def blob(seed: int, shape=SHAPE, affine=AFFINE):
    """(image, gm, wm) nibabel images of one synthetic subject."""
    rng = np.random.default_rng(seed)
    c = np.array(shape) / 2 + rng.uniform(-3, 3, 3)
    r = np.linalg.norm(np.indices(shape).transpose(1, 2, 3, 0) - c, axis=-1)
    r_out, r_in = 11 + rng.uniform(-1, 1), 6 + rng.uniform(-1, 1)
    wm = r < r_in
    gm = (r < r_out) & ~wm
    img = 100.0 * gm + 200.0 * wm + rng.normal(0, 12, shape)
    img = np.clip(img, 0, None).astype(np.float32)
    return (nib.Nifti1Image(img, affine), nib.Nifti1Image(gm.astype(np.uint8), affine),
            nib.Nifti1Image(wm.astype(np.uint8), affine))


def make_studies(project, n: int, *, first: int = 0, labels: bool = True) -> list[str]:
    """Subjects B000… with study S1: the image (tag t1) and, with ``labels``, GM/WM ROIs."""
    psids = []
    for i in range(first, first + n):
        sid = project.add_subject(f"B{i:03d}")
        psid = project.add_study(sid, "S1")
        img, gm, wm = blob(i)
        project.add_image(img, psid, IMAGE, tags=["t1"])
        if labels:
            project.add_image(gm, psid, LABELS["gm"], tags=["roi", "gm"])
            project.add_image(wm, psid, LABELS["wm"], tags=["roi", "wm"])
        psids.append(psid)
    return psids

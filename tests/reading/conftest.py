"""A small reading project: 2 training + 4 serious studies with a T1 and an 'AI' mask."""

from __future__ import annotations

import copy

import nibabel as nib
import numpy as np
import pytest

FORM = {"title": "Lesions", "items": [
    {"type": "radio", "name": "lesion", "label": "Lesion?", "options": ["yes", "no"],
     "required": True, "useastag": 1},
    {"type": "likert", "name": "confidence", "min": 1, "max": 5},
    {"type": "number", "name": "size_mm", "min": 0, "max": 100},
    {"type": "checkbox", "name": "where", "options": ["left", "right"]},
    {"type": "text", "name": "comment"},
]}

CONFIG = {
    "form": FORM,
    "reading": {
        "instructions": "Look for lesions.",
        "links": [{"title": "slides", "url": "https://example.org/slides"}],
        "mode_training": {"filters": {"files": "STAG:training"}, "random": "none"},
        "mode_serious": {"filters": {"files": "STAG:serious"}, "random": "idhash",
                         "repetitions": 2},
        "stages": [{"name": "raw", "images": [{"pattern": "anat/t1.nii.gz"}]},
                   {"name": "ai", "images": [{"pattern": "anat/t1.nii.gz"},
                                             {"pattern": "ai/seg.nii.gz", "role": "mask"}]}],
        "allowRestartOfTraining": True, "allowRestartOfSerious": True,
    },
    "tools": {"studytable": False},
    "viewer": {"sortOrder": "psid", "sortDirection": "asc"},
}

TRAINING = ["T01#S1", "T02#S1"]
SERIOUS = ["P01#S1", "P02#S1", "P03#S1", "P04#S1"]


def config(**reading):
    cfg = copy.deepcopy(CONFIG)
    cfg["reading"].update(reading)
    return cfg


@pytest.fixture
def project(archive, tmp_path):
    """Project 'rs' (alice admin) with bob and carol as editors, dave with no right."""
    proj = archive.create_project("rs")
    img = np.zeros((8, 8, 8), np.float32)
    img[2:6, 2:6, 2:6] = 100
    t1 = nib.Nifti1Image(img, np.eye(4))
    seg = nib.Nifti1Image((img > 0).astype(np.uint8), np.eye(4))
    for psid in TRAINING + SERIOUS:
        sub, st = psid.split("#")
        proj.add_subject(sub)
        proj.add_study(sub, st, date="2024-01-01")
        proj.add_image(t1, psid, "anat/t1.nii.gz")
        proj.add_image(seg, psid, "ai/seg.nii.gz")
        proj.tag_study(psid, ["training" if psid in TRAINING else "serious"])
    for user in ("bob", "carol", "dave", "erin"):
        archive.add_user(user)
    archive.grant("rs", "bob", "editor")
    archive.grant("rs", "carol", "editor")
    archive.grant("rs", "erin", "reader")
    return proj


def as_user(archive, user):
    return archive.as_user(user).project("rs")

"""A small synthetic reading project, for the example notebook, the app and the tests.

``build_demo(home)`` makes an archive in ``home`` (SQLite) with project ``reading_demo``:
8 studies with a 24³ "T1" (a bright sphere, a lesion in half of them) and an "AI"
segmentation, 2 tagged ``training`` and 6 ``serious``; users ``bob`` and ``carol``
(editors); and the reading ``lesions`` (two stages: raw, then with the AI mask).
Re-running it is a no-op.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.archive.archive import Archive

__all__ = ["build_demo", "DEMO_CONFIG", "simulate_reader"]

PROJECT = "reading_demo"
READING = "lesions"

DEMO_CONFIG: dict[str, Any] = {
    "form": {"title": "Lesion reading", "items": [
        {"type": "radio", "name": "lesion", "label": "Lesion present?",
         "options": ["yes", "no"], "required": True, "useastag": 1},
        {"type": "likert", "name": "confidence", "label": "Confidence", "min": 1, "max": 5,
         "labels": ["very low", "low", "medium", "high", "very high"]},
        {"type": "number", "name": "size_mm", "label": "Largest diameter (mm)", "min": 0,
         "max": 100},
        {"type": "checkbox", "name": "side", "label": "Side", "options": ["left", "right"]},
        {"type": "text", "name": "comment", "label": "Comment"},
        {"type": "roi", "name": "lesion_roi", "label": "Outline the lesion (space: draw)"},
    ]},
    "reading": {
        "instructions": "Decide whether the sphere contains a lesion. Stage 2 shows an AI mask.",
        "links": [{"title": "NORA reading tool", "url": "https://www.nora-imaging.org"}],
        "mode_training": {"filters": {"files": "STAG:training"}, "random": "none"},
        "mode_serious": {"filters": {"files": "STAG:serious"}, "random": "idhash",
                         "repetitions": 2},
        "stages": [{"name": "raw", "images": [{"pattern": "anat/t1.nii.gz"}]},
                   {"name": "ai", "images": [{"pattern": "anat/t1.nii.gz"},
                                             {"pattern": "ai/seg.nii.gz", "role": "mask"}]}],
        "blind": {"metadata": ["date"], "results": "own"},
        "allowRestartOfTraining": True, "allowRestartOfSerious": True,
    },
    "tools": {"studytable": True},
    "viewer": {"sortOrder": "psid", "sortDirection": "asc", "layout": "1"},
}


def _volume(lesion: bool, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:24, :24, :24] - 11.5
    img = 100.0 * (np.sqrt(x * x + y * y + z * z) < 9) + rng.normal(0, 5, (24, 24, 24))
    seg = np.zeros(img.shape, np.uint8)
    if lesion:
        blob = np.sqrt((x - 3) ** 2 + (y - 2) ** 2 + z * z) < 3
        img[blob] += 150
        seg[blob] = 1
    return img.astype(np.float32), seg


def build_demo(home: str | Path, user: str = "alice"):  # noqa: ANN201
    """Create (or open) the demo archive in ``home``; returns ``(archive, project)``."""
    import nibabel as nib

    from nora_lab.archive import Archive
    from nora_lab.errors import AlreadyExistsError

    from .readings import Reading

    home = Path(home)
    arc = Archive.open(home, user=user)
    try:
        proj = arc.create_project(PROJECT)
    except AlreadyExistsError:
        return arc, arc.project(PROJECT)
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    for i in range(8):
        psid = f"P{i + 1:02d}#S1"
        proj.add_subject(psid[:3])
        proj.add_study(psid[:3], "S1", date=f"2024-01-{i + 1:02d}", description="MR head")
        img, seg = _volume(lesion=i % 2 == 0, seed=i)
        proj.add_image(nib.Nifti1Image(img, aff), psid, "anat/t1.nii.gz")
        proj.add_image(nib.Nifti1Image(seg, aff), psid, "ai/seg.nii.gz")
        proj.tag_study(psid, ["training" if i < 2 else "serious"])
    for u in ("bob", "carol"):
        arc.add_user(u)
        arc.grant(PROJECT, u, "editor")
    Reading.create(proj, READING, copy.deepcopy(DEMO_CONFIG))
    return arc, proj


def simulate_reader(archive: Archive, user: str, mode: str = "serious", *, error_rate: float = 0.1,
                    seed: int = 0) -> int:
    """Answer every pending item of the demo reading as ``user`` (a noisy oracle)."""
    import nibabel as nib

    from nora_lab.imaging import ROI

    from .readings import Reading

    rng = np.random.default_rng(seed)
    project = archive.as_user(user).project(PROJECT)
    session = Reading.open(project, READING).session(mode)
    n = 0
    while (item := session.current) is not None:
        truth = int(item.psid[1:3]) % 2 == 1  # P01, P03, ... have the lesion
        said = truth if rng.random() > error_rate + (0.1 if item.stage == 0 else 0) else not truth
        roi = None
        if said and truth:  # outline the lesion, off by up to a voxel without the AI mask
            seg: Any = nib.load(project.study_dir(item.psid) / "ai/seg.nii.gz")
            shift = 0 if item.stage == 1 else int(rng.integers(-1, 2))
            roi = ROI(np.roll(np.asarray(seg.dataobj), shift, axis=0), seg.affine, "lesion_roi")
        session.submit({"lesion": "yes" if said else "no",
                        "confidence": int(rng.integers(3, 6) if said == truth else rng.integers(1,
                                                                                                4)),
                        "size_mm": round(float(12 + rng.normal(0, 1.5)), 1) if said else 0,
                        "side": ["right"] if said else []}, {"lesion_roi": roi})
        n += 1
    return n

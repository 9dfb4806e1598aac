"""ROI files as the ROI tool keeps them: ``rois/<name>.nii.gz`` tagged ``roi``, with the
ROI's real name (and colour) in the file's metadata. Shared by the Slicer and DICOM SEG
imports."""

from __future__ import annotations

import gzip
import re
from typing import Any

import numpy as np

from nora_lab.archive._files import NewFile

__all__ = ["ROI_TAG", "unique_name", "roi_file"]

ROI_TAG = "roi"


def unique_name(name: str, used: set[str], default: str = "roi") -> str:
    """A file name for ``name`` (unsafe characters → ``_``) not in ``used`` (then added)."""
    base = re.sub(r"[^\w.+=@,-]+", "_", name).strip("._") or default
    out, n = base, 1
    while out in used:
        n += 1
        out = f"{base}_{n}"
    used.add(out)
    return out


def roi_file(mask: Any, affine: Any, name: str, used: set[str], *, meta: dict[str, Any],
             tags: tuple[str, ...] = ()) -> NewFile:
    """``rois/<name>.nii.gz`` holding ``mask`` (uint8) on ``affine`` (RAS+), its bytes the
    same on every call (no gzip time stamp), so that a re-import is a no-op."""
    import nibabel as nib

    img = nib.Nifti1Image(np.asarray(mask, dtype=np.uint8), np.asarray(affine, dtype=float))
    img.header.set_xyzt_units("mm")
    data = gzip.compress(img.to_bytes(), mtime=0)
    return NewFile(f"rois/{unique_name(name, used)}.nii.gz", data=data,
                   meta={"name": name, **meta}, tags=[ROI_TAG, *tags])

"""ROI operations: morphology (6-neighbourhood), set operations, remove salt, clear.

Morphology uses the 6-neighbourhood in the ROI's voxel matrix (as NORA does: its extent
in mm follows the voxel size); on a one-slice ROI it is the in-plane 4-neighbourhood.
Results equal ``scipy.ndimage.binary_*`` on the whole volume with the same structuring
element, but only the ROI's bounding box (plus a margin) is processed. Every operation
edits the ROI in place, is undoable and returns the :class:`~nora_lab.imaging.Edit`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage as ndi

from nora_lab._lazy import deprecated_names
from nora_lab.errors import ImagingError

from ._pen import neighbourhood
from .history import Edit
from .resample import resample_to_grid
from .roi import ROI

__all__ = [
    "erode", "dilate", "opening", "closing",
    "union", "intersection", "difference", "remove_salt", "clear_roi", "structure_of",
]

#: the name before 0.2 (too generic for ``nora_lab.imaging``'s namespace)
__getattr__ = deprecated_names(__name__, {"clear": ":clear_roi"})


def structure_of(roi: ROI) -> np.ndarray:
    """The structuring element the operations use for ``roi`` (3x3x3 bool)."""
    return neighbourhood(roi.shape)


def _morph(roi: ROI, op: Callable[..., np.ndarray], iterations: int, label: str) -> Edit:
    if iterations < 1:
        raise ImagingError(f"{label}: iterations must be >= 1, got {iterations}")
    box = roi.bbox()
    if box is None:
        return Edit.make(None, None, None, label)
    m = iterations + 1
    x, y, z = (slice(max(s.start - m, 0), min(s.stop + m, n))
               for s, n in zip(box, roi.shape, strict=True))
    big = (x, y, z)
    out = op(roi.data[big], structure=structure_of(roi), iterations=iterations)
    return roi.apply(big, out, label)


def erode(roi: ROI, iterations: int = 1) -> Edit:
    """Binary erosion with the 6-neighbourhood."""
    return _morph(roi, ndi.binary_erosion, iterations, "erode")


def dilate(roi: ROI, iterations: int = 1) -> Edit:
    """Binary dilation with the 6-neighbourhood."""
    return _morph(roi, ndi.binary_dilation, iterations, "dilate")


def opening(roi: ROI, iterations: int = 1) -> Edit:
    """Erosion followed by dilation (removes thin protrusions)."""
    return _morph(roi, ndi.binary_opening, iterations, "opening")


def closing(roi: ROI, iterations: int = 1) -> Edit:
    """Dilation followed by erosion (fills small gaps)."""
    return _morph(roi, ndi.binary_closing, iterations, "closing")


def _other_on_grid(roi: ROI, other: ROI, resample: bool) -> np.ndarray:
    if other.grid.same_as(roi.grid):
        return other.data
    if not resample:
        raise ImagingError(
            f"ROI '{other.name}' {other.grid} is not on the grid of ROI '{roi.name}' {roi.grid}; "
            "pass resample=True to resample it (nearest neighbour) through world coordinates"
        )
    return np.asarray(resample_to_grid(other, roi.grid, order=0).dataobj).astype(bool)


def union(roi: ROI, other: ROI, *, resample: bool = False) -> Edit:
    """Turn on every voxel that is on in ``other`` (``roi |= other``)."""
    return roi.replace(roi.data | _other_on_grid(roi, other, resample), "union")


def intersection(roi: ROI, other: ROI, *, resample: bool = False) -> Edit:
    """Keep only voxels that are also on in ``other`` (``roi &= other``)."""
    return roi.replace(roi.data & _other_on_grid(roi, other, resample), "intersection")


def difference(roi: ROI, other: ROI, *, resample: bool = False) -> Edit:
    """Turn off every voxel that is on in ``other`` (``roi &= ~other``)."""
    return roi.replace(roi.data & ~_other_on_grid(roi, other, resample), "difference")


def remove_salt(roi: ROI, min_voxels: int) -> Edit:
    """Remove 6-connected components with fewer than ``min_voxels`` voxels."""
    if min_voxels < 1:
        raise ImagingError(f"remove_salt: min_voxels must be >= 1, got {min_voxels}")
    box = roi.bbox()
    if box is None:
        return Edit.make(None, None, None, "remove-salt")
    sub = roi.data[box]
    lab, n = ndi.label(sub, structure=structure_of(roi))
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    keep = sizes >= min_voxels
    keep[0] = False
    return roi.apply(box, keep[lab], "remove-salt")


def clear_roi(roi: ROI) -> Edit:
    """Turn every voxel off (undoable)."""
    return roi.clear()

"""Visitation (fiber density) and terminal maps on a reference grid."""

from __future__ import annotations

from typing import Any

import nibabel as nib
import numpy as np

from nora_lab.errors import ImagingError

from .fibers import densify, flatten
from .grid import Grid

__all__ = ["visitation_map", "terminal_map"]


def _voxels(grid: Grid, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear voxel index of each point (nearest voxel) and which points lie inside."""
    m = np.linalg.inv(grid.affine)
    inside = np.ones(len(pts), dtype=bool)
    lin = np.zeros(len(pts), dtype=np.int64)
    cols = [pts[:, 0], pts[:, 1], pts[:, 2]]
    for d, n in enumerate(grid.shape):
        c = cols[0] * m[d, 0]
        c += cols[1] * m[d, 1]
        c += cols[2] * m[d, 2]
        c += m[d, 3]
        idx = np.rint(c, out=c).astype(np.int64)
        inside &= (idx >= 0) & (idx < n)
        lin *= n
        lin += idx
    return lin, inside


def visitation_map(streamlines: Any, reference: Any, *,
                   step: float | None = None) -> nib.Nifti1Image:
    """Number of streamlines visiting each voxel of ``reference``'s grid.

    Each streamline counts once per voxel, however often it passes. Segments are
    densified to ``step`` mm (default: half the smallest voxel size) so that no voxel
    between two points is skipped; ``step=np.inf`` counts the points as they are.

    Returns
    -------
    nibabel.Nifti1Image
        int32 counts on the reference grid.
    """
    grid = Grid.from_image(reference)
    pts, sid, _ = flatten(streamlines)
    step = 0.5 * float(grid.voxel_sizes.min()) if step is None else float(step)
    if not step > 0:
        raise ImagingError(f"step must be > 0 mm, got {step}")
    pts, sid = densify(pts, sid, step)
    lin, inside = _voxels(grid, pts)
    lin, sid = lin[inside], sid[inside]
    # drop consecutive repeats (most duplicates), then exact per-streamline uniques
    if len(lin):
        new = np.r_[True, (lin[1:] != lin[:-1]) | (sid[1:] != sid[:-1])]
        lin, sid = lin[new], sid[new]
    nvox = int(np.prod(grid.shape))
    key = np.sort(sid.astype(np.int64) * nvox + lin)
    if len(key):
        key = key[np.r_[True, key[1:] != key[:-1]]]
    counts = np.bincount(key % nvox, minlength=nvox).astype(np.int32)
    return nib.Nifti1Image(counts.reshape(grid.shape), grid.affine)


def terminal_map(streamlines: Any, reference: Any) -> nib.Nifti1Image:
    """Number of streamline end points (both ends) in each voxel of ``reference``'s grid."""
    grid = Grid.from_image(reference)
    pts, _, lengths = flatten(streamlines)
    ends = np.cumsum(lengths) - 1
    starts = ends - lengths + 1
    use = lengths > 0
    idx = np.concatenate([starts[use], ends[use]])
    lin, inside = _voxels(grid, pts[idx])
    nvox = int(np.prod(grid.shape))
    counts = np.bincount(lin[inside], minlength=nvox).astype(np.int32)
    return nib.Nifti1Image(counts.reshape(grid.shape), grid.affine)

"""Polygon fill: render a closed outline into one slice of an ROI, in any orientation."""

from __future__ import annotations

from typing import Any

import numpy as np

from nora_lab.errors import ImagingError

from ._pen import finish
from .history import Edit
from .roi import ROI

__all__ = ["polygon_fill", "polygon_mask"]


def polygon_mask(vertices: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixels of a 2D ``shape`` whose centre lies inside the closed polygon (even-odd rule).

    Parameters
    ----------
    vertices : (N, 2) array
        Polygon corners in pixel coordinates ``(u, v)`` (first = row axis, second =
        column axis); pixel ``(a, b)`` has its centre at ``(a, b)``.
    shape : (int, int)
        Slice shape.
    """
    v = np.asarray(vertices, dtype=float)
    if v.ndim != 2 or v.shape[1] != 2 or len(v) < 3:
        raise ImagingError(
            f"a polygon needs at least 3 vertices of 2 coordinates, got shape {v.shape}")
    out = np.zeros(shape, dtype=bool)
    lo = np.maximum(np.floor(v.min(axis=0)).astype(int), 0)
    hi = np.minimum(np.ceil(v.max(axis=0)).astype(int) + 1, shape)
    if np.any(hi <= lo):
        return out
    u = np.arange(lo[0], hi[0], dtype=float)[:, None]
    w = np.arange(lo[1], hi[1], dtype=float)[None, :]
    inside = np.zeros((hi[0] - lo[0], hi[1] - lo[1]), dtype=bool)
    for (u1, w1), (u2, w2) in zip(v, np.roll(v, -1, axis=0), strict=True):
        if w1 == w2:
            continue
        crosses = (w1 <= w) != (w2 <= w)
        u_at = u1 + (w - w1) * (u2 - u1) / (w2 - w1)
        inside ^= crosses & (u < u_at)
    out[lo[0]:hi[0], lo[1]:hi[1]] = inside
    return out


def polygon_fill(
    roi: ROI, vertices: Any, axis: int, index: int | None = None, *, world: bool = False,
    erase: bool = False, preview: bool = False,
) -> Edit:
    """Fill a polygon outline into the slice ``index`` across ``axis``.

    Parameters
    ----------
    roi : ROI
        Drawn into.
    vertices : (N, 2) or (N, 3) array
        With ``world=False``: in-slice voxel coordinates along the two other axes in
        increasing order (axis 2 -> ``(i, j)``, axis 0 -> ``(j, k)``). With
        ``world=True``: (N, 3) world mm, projected onto the slice.
    axis : {0, 1, 2}
        Slicing direction (the orientation of the viewport it was drawn in).
    index : int, optional
        Slice along ``axis``; with world vertices it defaults to their mean position.
    world, erase, preview : bool
        Vertices in world mm; turn voxels off; only compute the edit.

    Returns
    -------
    Edit
    """
    if axis not in (0, 1, 2):
        raise ImagingError(f"polygon axis must be 0, 1 or 2, got {axis}")
    v = np.asarray(vertices, dtype=float)
    others = [a for a in range(3) if a != axis]
    if world:
        if v.ndim != 2 or v.shape[1] != 3:
            raise ImagingError(f"world polygon vertices must be (N, 3), got shape {v.shape}")
        ijk = roi.grid.world_to_voxel(v)
        if index is None:
            index = int(round(float(ijk[:, axis].mean())))
        v = ijk[:, others]
    if index is None:
        raise ImagingError("polygon_fill needs the slice index for voxel-coordinate vertices")
    if not 0 <= index < roi.shape[axis]:
        raise ImagingError(
            f"slice {index} is outside the ROI along axis {axis} (size {roi.shape[axis]})")
    plane = polygon_mask(v, (roi.shape[others[0]], roi.shape[others[1]]))
    box = [slice(None)] * 3
    box[axis] = slice(index, index + 1)
    mask = np.expand_dims(plane, axis)
    box3 = tuple(slice(0, n) if s == slice(None) else s
                 for s, n in zip(box, roi.shape, strict=True))
    return finish(roi, box3, mask, erase, "polygon", preview)  # type: ignore[arg-type]

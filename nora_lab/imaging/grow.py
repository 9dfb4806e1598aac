"""Unconstrained 3D region growing from one seed.

The region is the 6-connected set of voxels whose contrast is within
``similarity * window width`` of the seed's value. Rather than labelling the whole
volume, the search starts in a small box around the seed and doubles the box towards
every face the region touches, so the cost follows the size of the region, not of the
volume.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi

from nora_lab.errors import ImagingError

from ._pen import check_centre, check_window, finish, neighbourhood
from .grid import as_volume
from .history import Edit
from .resample import resample_to_grid
from .roi import ROI, bbox_of

__all__ = ["region_grow", "grow_mask"]


def _on_grid(contrast: Any, roi: ROI) -> np.ndarray:
    if isinstance(contrast, np.ndarray):
        arr = contrast[:, :, None] if contrast.ndim == 2 else contrast
        if arr.shape != roi.shape:
            raise ImagingError(
                f"contrast array shape {contrast.shape} differs from the ROI grid {roi.shape}; "
                "pass a nibabel image so it can be resampled through world coordinates"
            )
        return arr
    data, grid = as_volume(contrast, "contrast")
    if grid.same_as(roi.grid):
        return data
    return np.asanyarray(resample_to_grid(contrast, roi.grid).dataobj)


def grow_mask(
    data: np.ndarray, seed: tuple[int, int, int], low: float, high: float, start: int = 16
) -> tuple[tuple[slice, slice, slice], np.ndarray]:
    """Box and mask of the 6-connected region of ``low <= data <= high`` holding ``seed``.

    Parameters
    ----------
    data : ndarray (3D)
        The contrast.
    seed : 3 ints
        Start voxel (must satisfy the criterion, else the mask is empty).
    low, high : float
        Inclusive value range.
    start : int
        Half-size of the first search box in voxels.

    Returns
    -------
    box : tuple of slices
        Region of ``data`` the mask covers.
    mask : ndarray of bool
        The region, inside ``box``.
    """
    shape = data.shape
    structure = neighbourhood(shape)
    lo = [max(s - start, 0) for s in seed]
    hi = [min(s + start + 1, n) for s, n in zip(seed, shape, strict=True)]
    while True:
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        sub = data[box]
        cand = sub >= low
        cand &= sub <= high
        local = tuple(s - a for s, a in zip(seed, lo, strict=True))
        if not cand[local]:
            return box, np.zeros_like(cand)  # type: ignore[return-value]
        # label only the candidates' bounding box: nothing outside it can connect
        crop = bbox_of(cand)
        assert crop is not None
        cand = cand[crop]
        lab, _ = ndi.label(cand, structure=structure)
        region = lab == lab[tuple(p - c.start for p, c in zip(local, crop, strict=True))]
        grown = False
        for ax in range(3):
            size = hi[ax] - lo[ax]
            first: list[slice | int] = [slice(None)] * 3
            first[ax] = 0
            down = lo[ax] > 0 and crop[ax].start == 0 and region[tuple(first)].any()
            first[ax] = -1
            up = hi[ax] < shape[ax] and crop[ax].stop == size and region[tuple(first)].any()
            # triple the box towards touched faces; past half the axis, take all of it
            big = 3 * size > shape[ax] // 2
            if down:
                lo[ax] = 0 if big else max(lo[ax] - size, 0)
            if up:
                hi[ax] = shape[ax] if big else min(hi[ax] + size, shape[ax])
            grown = grown or down or up
        if not grown:
            out = tuple(slice(a + c.start, a + c.stop) for a, c in zip(lo, crop, strict=True))
            return out, region  # type: ignore[return-value]


def region_grow(
    roi: ROI, seed: Any, contrast: Any, window: tuple[float, float], similarity: float = 0.1,
    *, erase: bool = False, preview: bool = False,
) -> Edit:
    """Add the 3D region connected to ``seed`` with contrast similar to the seed's.

    Parameters
    ----------
    roi : ROI
        Drawn into.
    seed : 3 ints
        Seed voxel index.
    contrast : ndarray of the ROI's shape, or image
        The contrast (an image on another grid is resampled onto the ROI grid first).
    window : (low, high)
        Current window limits; the tolerance is ``similarity * (high - low)``.
    similarity : float
        Fraction of the window width (NORA changes it by dragging the mouse).
    erase, preview : bool
        Turn the region off instead; only compute the edit.

    Returns
    -------
    Edit
        The changed bounding box and values.

    Raises
    ------
    ImagingError
        Seed outside the grid, bad window, seed without a contrast value.
    """
    wlo, whi = check_window(window)
    if not similarity >= 0:
        raise ImagingError(f"similarity must be >= 0, got {similarity}")
    c = check_centre(roi.grid, seed)
    data = _on_grid(contrast, roi)
    v0 = float(data[c])
    if np.isnan(v0):
        raise ImagingError(f"the contrast has no value at the seed {c} (outside its field of view)")
    tol = similarity * (whi - wlo)
    box, mask = grow_mask(data, c, v0 - tol, v0 + tol)
    return finish(roi, box, mask, erase, "region-grow", preview)

"""Shared machinery of the pens: the pen's footprint and the contrast inside it."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi

from nora_lab.errors import ImagingError

from .grid import Grid, as_volume
from .history import BBox, Edit
from .resample import sample_world
from .roi import ROI

SIX = ndi.generate_binary_structure(3, 1)


def neighbourhood(shape: tuple[int, ...]) -> np.ndarray:
    """The 6-neighbourhood, restricted to the axes of ``shape`` longer than one voxel."""
    s = SIX.copy()
    for ax, n in enumerate(shape):
        if n == 1:
            keep: list[slice | int] = [slice(None)] * 3
            for i in (0, 2):
                keep[ax] = i
                s[tuple(keep)] = False
    return s


def check_centre(grid: Grid, centre: Any) -> tuple[int, int, int]:
    c = tuple(int(round(float(v))) for v in np.ravel(centre))
    if len(c) == 2:
        c = (*c, 0)
    if len(c) != 3 or any(not 0 <= v < n for v, n in zip(c, grid.shape, strict=True)):
        raise ImagingError(
            f"pen centre {tuple(np.ravel(centre))} lies outside the ROI grid {grid.shape}")
    return c


def check_window(window: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in window)
    except (TypeError, ValueError):
        raise ImagingError(f"window must be (low, high), got {window!r}") from None
    if not hi > lo:
        raise ImagingError(f"window upper limit must exceed the lower one, got ({lo}, {hi})")
    return lo, hi


def ball(grid: Grid, centre: tuple[int, int, int], radius_mm: float,
         axis: int | None) -> tuple[BBox, np.ndarray]:
    """Bounding box and footprint of a pen: a ball in mm (or a disc in one slice).

    Anisotropic voxels are respected: the footprint holds the voxels whose centre is
    within ``radius_mm`` of the centre voxel's centre, in world distances.
    """
    if not radius_mm >= 0:
        raise ImagingError(f"pen radius must be >= 0 mm, got {radius_mm}")
    if axis not in (None, 0, 1, 2):
        raise ImagingError(
            f"pen axis must be None (3D ball) or 0, 1, 2 (disc in a slice), got {axis}")
    vs = grid.voxel_sizes
    reach = np.floor(radius_mm / vs + 1e-9).astype(int)
    if axis is not None:
        reach[axis] = 0
    lo = [max(c - r, 0) for c, r in zip(centre, reach, strict=True)]
    hi = [min(c + r + 1, n) for c, r, n in zip(centre, reach, grid.shape, strict=True)]
    axes = [((np.arange(a, b) - c) * v) ** 2 for a, b, c, v in zip(lo, hi, centre, vs, strict=True)]
    d2 = axes[0][:, None, None] + axes[1][None, :, None] + axes[2][None, None, :]
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    return box, d2 <= radius_mm**2 * (1 + 1e-9) + 1e-12  # type: ignore[return-value]


def contrast_in(contrast: Any, grid: Grid, box: BBox) -> np.ndarray:
    """Contrast values (float) in ``box`` of ``grid``.

    ``contrast`` is an array of the ROI's shape, or an image/ROI/(array, affine) on any
    grid — then only the box is resampled (trilinear, NaN outside its field of view).
    """
    if isinstance(contrast, np.ndarray):
        arr = contrast.reshape(
            contrast.shape + (1,) * (3 - contrast.ndim)) if contrast.ndim == 2 else contrast
        if arr.shape != grid.shape:
            raise ImagingError(
                f"contrast array shape {contrast.shape} differs from the ROI grid {grid.shape}; "
                "pass a nibabel image instead so it can be resampled through world coordinates"
            )
        return np.asarray(arr[box], dtype=float)
    proxy = getattr(contrast, "dataobj", None)
    if proxy is not None and len(contrast.shape) == 3 and Grid.from_image(contrast).same_as(grid):
        return np.asarray(proxy[box], dtype=float)  # reads only the box from a file-backed image
    data, cgrid = as_volume(contrast, "contrast")
    if cgrid.same_as(grid):
        return np.asarray(data[box], dtype=float)
    ijk = np.stack(np.meshgrid(*[np.arange(s.start, s.stop) for s in box], indexing="ij"), -1)
    vals = sample_world(data, cgrid, grid.voxel_to_world(ijk.reshape(-1, 3)))
    return vals.reshape(ijk.shape[:3])


def keep_connected(mask: np.ndarray, seed: tuple[int, ...]) -> np.ndarray:
    """The 6-connected component of ``mask`` containing ``seed`` (empty if seed is off)."""
    if not mask[seed]:
        return np.zeros_like(mask)
    lab, _ = ndi.label(mask, structure=neighbourhood(mask.shape))
    return lab == lab[seed]


def finish(roi: ROI, box: BBox, mask: np.ndarray, erase: bool, label: str, preview: bool) -> Edit:
    """Apply (or, for a preview, only describe) painting ``mask`` into ``box``."""
    if preview:
        old = roi.data[box]
        return Edit.make(box, old, (old & ~mask) if erase else (old | mask), label)
    return roi.paint(box, mask, value=not erase, label=label)

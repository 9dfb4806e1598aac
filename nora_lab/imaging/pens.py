"""The ROI pens: brush, eraser, threshold pen and magic pen.

Every pen takes the centre voxel, a radius in mm (anisotropic voxels respected: the
footprint is a ball in world distances, or a disc in one slice with ``axis``), works only
inside the footprint's bounding box, and returns the :class:`~nora_lab.imaging.Edit`
it made (changed bounding box plus old/new values) — what a widget sends to the browser.
``erase=True`` turns voxels off instead (NORA's right mouse button); ``preview=True``
returns the edit without applying it (NORA's "live preview").
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from nora_lab.errors import ImagingError

from ._pen import ball, check_centre, check_window, contrast_in, finish, keep_connected
from .history import Edit
from .roi import ROI

__all__ = ["brush", "eraser", "threshold_pen", "magic_pen"]


def brush(
    roi: ROI, centre: Any, radius_mm: float, *, axis: int | None = None,
    erase: bool = False, preview: bool = False,
) -> Edit:
    """Turn on every voxel within ``radius_mm`` of ``centre``.

    Parameters
    ----------
    roi : ROI
        Drawn into.
    centre : 3 ints
        Voxel index of the pen centre.
    radius_mm : float
        Pen radius in mm; 0 paints the centre voxel only.
    axis : {None, 0, 1, 2}
        None: a 3D ball. 0/1/2: a disc in the slice through ``centre`` across that axis.
    erase, preview : bool
        Turn voxels off instead; only compute the edit.

    Returns
    -------
    Edit
    """
    c = check_centre(roi.grid, centre)
    box, mask = ball(roi.grid, c, radius_mm, axis)
    return finish(roi, box, mask, erase, "eraser" if erase else "brush", preview)


def eraser(roi: ROI, centre: Any, radius_mm: float, *, axis: int | None = None,
           preview: bool = False) -> Edit:
    """Turn off every voxel within ``radius_mm`` of ``centre`` (see :func:`brush`)."""
    return brush(roi, centre, radius_mm, axis=axis, erase=True, preview=preview)


def threshold_pen(
    roi: ROI, centre: Any, radius_mm: float, contrast: Any, window: tuple[float, float], *,
    mode: Literal["higher", "lower"] = "higher", threshold: float | Literal["low", "high"] = "low",
    connected: bool = False, axis: int | None = None, erase: bool = False, preview: bool = False,
) -> Edit:
    """Turn on the voxels of the footprint above ("higher") or below ("lower") a threshold.

    Parameters
    ----------
    roi, centre, radius_mm, axis, erase, preview
        As for :func:`brush`.
    contrast : ndarray of the ROI's shape, or image
        The image drawn on; an image on another grid is resampled inside the footprint.
    window : (low, high)
        The contrast's current window (display) limits.
    mode : {"higher", "lower"}
        Voxels strictly above / strictly below the threshold.
    threshold : float or {"low", "high"}
        A number, or the lower/upper window limit (NORA's clImL/clImR).
    connected : bool
        NORA's "Higher RGrow"/"Lower RGrow": keep only voxels 6-connected to the centre.

    Returns
    -------
    Edit
    """
    lo, hi = check_window(window)
    if mode not in ("higher", "lower"):
        raise ImagingError(f"threshold pen mode must be 'higher' or 'lower', got {mode!r}")
    if isinstance(threshold, str):
        if threshold not in ("low", "high"):
            raise ImagingError(f"threshold must be a number, 'low' or 'high', got {threshold!r}")
        thr = lo if threshold == "low" else hi
    else:
        thr = float(threshold)
    c = check_centre(roi.grid, centre)
    box, mask = ball(roi.grid, c, radius_mm, axis)
    vals = contrast_in(contrast, roi.grid, box)
    mask &= (vals > thr) if mode == "higher" else (vals < thr)
    if connected:
        mask = keep_connected(mask, tuple(a - s.start for a, s in zip(c, box, strict=True)))
    return finish(roi, box, mask, erase, f"threshold-{mode}", preview)


def magic_pen(
    roi: ROI, centre: Any, radius_mm: float, contrast: Any, window: tuple[float, float], *,
    similarity: float = 0.1, connected: bool = False, axis: int | None = None,
    erase: bool = False, preview: bool = False,
) -> Edit:
    """Turn on footprint voxels whose contrast is similar to the centre voxel's.

    A voxel is similar when ``|value - value_at_centre| <= similarity * (high - low)``:
    similarity is relative to the window width, so it follows the display contrast.

    Parameters
    ----------
    roi, centre, radius_mm, axis, erase, preview
        As for :func:`brush`.
    contrast, window
        As for :func:`threshold_pen`.
    similarity : float
        Fraction of the window width (0.1 = within 10 % of the width).
    connected : bool
        Magic pen "connected": keep only voxels 6-connected to the centre through similar
        voxels (region growing inside the pen).

    Returns
    -------
    Edit
    """
    lo, hi = check_window(window)
    if not similarity >= 0:
        raise ImagingError(f"similarity must be >= 0, got {similarity}")
    c = check_centre(roi.grid, centre)
    box, mask = ball(roi.grid, c, radius_mm, axis)
    vals = contrast_in(contrast, roi.grid, box)
    seed = tuple(a - s.start for a, s in zip(c, box, strict=True))
    v0 = vals[seed]
    if np.isnan(v0):
        raise ImagingError(
            f"the contrast has no value at the pen centre {c} (outside its field of view)")
    tol = similarity * (hi - lo)
    mask &= np.abs(vals - v0) <= tol
    if connected:
        mask = keep_connected(mask, seed)
    return finish(roi, box, mask, erase, "magic-connected" if connected else "magic", preview)

"""Oblique reformatting planes (the oblique MPR).

A plane is a 4×4 matrix ``P`` taking plane coordinates ``(u, v, w)`` mm to world mm: its
columns are the in-plane axes ``u``, ``v``, the normal ``w`` (orthonormal, right-handed)
and the plane's centre. :func:`plane_grid` turns it into a one-voxel-thick
:class:`~nora_lab.imaging.Grid` that :func:`~nora_lab.imaging.resample_to_grid` fills
(the reformatted slice); :func:`tilt_plane` turns and shifts it about its centre, as a
ctrl + drag does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nora_lab.errors import ImagingError

from .grid import Grid
from .transforms import rotation

__all__ = ["plane_matrix", "plane_grid", "tilt_plane"]


def _unit(v: Sequence[float], what: str) -> np.ndarray:
    a = np.asarray(v, dtype=float).reshape(-1)
    n = float(np.linalg.norm(a)) if a.shape == (3,) else 0.0
    if not n > 1e-9 or not np.all(np.isfinite(a)):
        raise ImagingError(f"the plane's {what} must be 3 finite numbers, not all 0; got {v!r}")
    return a / n


def plane_matrix(centre: Sequence[float], normal: Sequence[float],
                 up: Sequence[float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """The plane through ``centre`` with ``normal``; its ``v`` axis points as close to ``up``
    as the plane allows (another axis when ``up`` is along the normal).

    Examples
    --------
    >>> (plane_matrix((0, 0, 0), (0, 1, 0))[:3, :3] + 0.0).tolist()   # coronal
    [[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    """
    w = _unit(normal, "normal")
    up_v = _unit(up, "up direction")
    for cand in (up_v, np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0])):
        u = np.cross(cand, w)
        if np.linalg.norm(u) > 1e-6:
            break
    u = u / np.linalg.norm(u)
    v = np.cross(w, u)
    c = np.asarray(centre, dtype=float).reshape(-1)
    if c.shape != (3,) or not np.all(np.isfinite(c)):
        raise ImagingError(f"the plane's centre must be 3 finite numbers (mm), got {centre!r}")
    out = np.eye(4)
    out[:3, 0], out[:3, 1], out[:3, 2], out[:3, 3] = u, v, w, c
    return out


def _check(plane: np.ndarray) -> np.ndarray:
    p = np.asarray(plane, dtype=float)
    if p.shape != (4, 4) or not np.allclose(p[3], [0, 0, 0, 1]):
        raise ImagingError(f"a plane is a 4x4 matrix with last row 0 0 0 1, got {p.tolist()}")
    r = p[:3, :3]
    if not np.allclose(r.T @ r, np.eye(3), atol=1e-6) or np.linalg.det(r) < 0:
        raise ImagingError("a plane's axes must be orthonormal and right-handed "
                           "(make one with plane_matrix(centre, normal))")
    return p


def plane_grid(plane: np.ndarray, size_mm: float | Sequence[float] = 200.0,
               spacing_mm: float = 1.0) -> Grid:
    """The reformatted slice's grid: ``size_mm`` (one or two edges) square on the plane,
    centred on its centre, voxels of ``spacing_mm``, one voxel thick."""
    p = _check(plane)
    size = np.broadcast_to(np.asarray(size_mm, dtype=float), (2,))
    if not spacing_mm > 0 or np.any(size <= 0):
        raise ImagingError(f"size and spacing must be > 0 mm, got {size_mm!r}, {spacing_mm!r}")
    n = np.maximum(np.rint(size / spacing_mm).astype(int), 1)
    affine = np.eye(4)
    affine[:3, :3] = p[:3, :3] * spacing_mm
    affine[:3, 3] = p[:3, 3] - p[:3, 0] * spacing_mm * (n[0] - 1) / 2 \
        - p[:3, 1] * spacing_mm * (n[1] - 1) / 2
    return Grid((int(n[0]), int(n[1]), 1), affine)


def tilt_plane(plane: np.ndarray, about_u_deg: float = 0.0, about_v_deg: float = 0.0,
               shift_mm: float = 0.0) -> np.ndarray:
    """The plane turned about its own ``u`` and ``v`` axes (through its centre) and moved
    ``shift_mm`` along its normal."""
    p = _check(plane)
    r = rotation((about_u_deg, about_v_deg, 0.0))[:3, :3]   # in plane coordinates
    out = p.copy()
    out[:3, :3] = p[:3, :3] @ r
    out[:3, 3] = p[:3, 3] + out[:3, 2] * float(shift_mm)
    return out

"""Rigid and affine world transforms as 4x4 matrices (the navigation tool's Ctrl-drag).

A transform ``M`` moves an image in world space: the moved image has the affine
``M @ img.affine``. Build ``M`` from translations, rotations and scalings and chain them
with :func:`compose` (first argument applied first).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import nibabel as nib
import numpy as np

from nora_lab.errors import ImagingError

from .grid import as_volume

__all__ = ["translation", "rotation", "scaling", "compose", "move_image", "check_matrix"]


def check_matrix(m: Any, what: str = "transform") -> np.ndarray:
    """Validate a 4x4 affine matrix (finite, invertible, last row 0 0 0 1)."""
    a = np.asarray(m, dtype=float)
    if a.shape != (4, 4) or not np.all(np.isfinite(a)):
        raise ImagingError(f"{what} must be a finite 4x4 matrix, got shape {a.shape}")
    if not np.allclose(a[3], [0, 0, 0, 1]):
        raise ImagingError(
            f"{what} is not affine: its last row is {a[3].tolist()}, expected [0, 0, 0, 1]")
    if abs(np.linalg.det(a[:3, :3])) < 1e-12:
        raise ImagingError(f"{what} is singular (a scale of 0?) and cannot be inverted")
    return a


def _about(m3: np.ndarray, centre: Sequence[float] | None) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = m3
    if centre is not None:
        c = np.asarray(centre, dtype=float)
        out[:3, 3] = c - m3 @ c
    return out


def translation(offset: Sequence[float]) -> np.ndarray:
    """Shift by ``offset`` mm (x, y, z)."""
    t = np.asarray(offset, dtype=float).ravel()
    if t.shape != (3,):
        raise ImagingError(f"a translation needs 3 numbers (mm), got {offset!r}")
    out = np.eye(4)
    out[:3, 3] = t
    return out


def rotation(angles_deg: Sequence[float], centre: Sequence[float] | None = None) -> np.ndarray:
    """Rotate about the x, then y, then z axis by ``angles_deg`` degrees, around ``centre``.

    Positive angles turn counter-clockwise looking down the axis (right-hand rule).
    """
    a = np.deg2rad(np.asarray(angles_deg, dtype=float).ravel())
    if a.shape != (3,):
        raise ImagingError(f"a rotation needs 3 angles (degrees about x, y, z), got {angles_deg!r}")
    cx, cy, cz = np.cos(a)
    sx, sy, sz = np.sin(a)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return _about(rz @ ry @ rx, centre)


def scaling(factors: float | Sequence[float], centre: Sequence[float] | None = None) -> np.ndarray:
    """Scale by ``factors`` (one or three) around ``centre`` (the origin by default)."""
    f = np.broadcast_to(np.asarray(factors, dtype=float), (3,))
    if np.any(f == 0) or not np.all(np.isfinite(f)):
        raise ImagingError(f"scale factors must be finite and non-zero, got {factors!r}")
    return _about(np.diag(f), centre)


def compose(*matrices: Any) -> np.ndarray:
    """One matrix doing ``matrices[0]`` first, then ``matrices[1]``, ...

    ``compose(a, b)`` equals ``b @ a``.
    """
    out = np.eye(4)
    for i, m in enumerate(matrices):
        out = check_matrix(m, f"transform {i}") @ out
    return out


def move_image(img: Any, matrix: Any) -> nib.Nifti1Image:
    """The image moved by ``matrix`` without resampling (only its affine changes)."""
    data, grid = as_volume(img, "image to move")
    return nib.Nifti1Image(np.asarray(data), check_matrix(matrix) @ grid.affine)

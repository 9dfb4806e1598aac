"""Voxel grids: a shape and a voxel-to-world affine.

Every volume nora_lab.imaging works with lives on a :class:`Grid`: a 3D array shape and
the 4x4 affine mapping voxel indices ``(i, j, k)`` to world coordinates in mm (RAS+, the
NIfTI convention). 2D images are treated as 3D grids with one slice, so a 2D ROI still
has a position in 3D space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nora_lab.errors import ImagingError

__all__ = ["Grid", "as_volume", "apply_affine"]


def apply_affine(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 4x4 affine to points ``(..., 3)``; float64 out.

    Column by column: much faster than ``pts @ m[:3, :3].T`` for millions of points.
    """
    p = np.asarray(pts)
    flat = p.reshape(-1, 3)
    out = np.empty(flat.shape, dtype=float)
    for d in range(3):
        out[:, d] = flat[:, 0] * m[d, 0]
        out[:, d] += flat[:, 1] * m[d, 1]
        out[:, d] += flat[:, 2] * m[d, 2]
        out[:, d] += m[d, 3]
    return out.reshape(p.shape[:-1] + (3,)) if p.ndim > 1 else out.reshape(3)


@dataclass(frozen=True, eq=False)
class Grid:
    """A 3D voxel grid.

    Parameters
    ----------
    shape : tuple of int
        Array shape (2D shapes get a trailing 1).
    affine : (4, 4) array_like
        Voxel-to-world matrix in mm.

    Examples
    --------
    >>> g = Grid((10, 10, 5), np.diag([2.0, 2.0, 3.0, 1.0]))
    >>> g.voxel_sizes
    array([2., 2., 3.])
    """

    shape: tuple[int, ...]  # 3 values once built (a 2D shape gets a trailing 1)
    affine: np.ndarray

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.shape)
        if len(shape) == 2:
            shape = (*shape, 1)
        if len(shape) != 3 or min(shape) < 1:
            raise ImagingError(f"a grid needs a 2D or 3D shape of positive sizes, got {self.shape}")
        affine = np.asarray(self.affine, dtype=float)
        if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
            raise ImagingError(
                f"a grid affine must be a finite 4x4 matrix, got shape {affine.shape}")
        if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
            raise ImagingError("the grid affine is singular (a voxel size is 0); fix the header")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "affine", affine)

    @classmethod
    def from_image(cls, img: Any) -> Grid:
        """The grid of a nibabel image, an :class:`~nora_lab.imaging.ROI` or a Grid."""
        if isinstance(img, Grid):
            return img
        if hasattr(img, "grid") and isinstance(img.grid, Grid):
            return img.grid
        if hasattr(img, "shape") and hasattr(img, "affine") and img.affine is not None:
            return cls(_spatial_shape(tuple(img.shape), "image"), img.affine)
        raise ImagingError(f"cannot take a grid from {type(img).__name__}: need a shape and affine")

    @property
    def voxel_sizes(self) -> np.ndarray:
        """Voxel edge lengths in mm (column norms of the affine)."""
        return np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))

    @property
    def voxel_volume(self) -> float:
        """Volume of one voxel in mm³."""
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    def voxel_to_world(self, ijk: np.ndarray) -> np.ndarray:
        """World mm of voxel coordinates, shape ``(N, 3)`` (or ``(3,)``)."""
        return apply_affine(self.affine, ijk)

    def world_to_voxel(self, xyz: np.ndarray) -> np.ndarray:
        """Continuous voxel coordinates of world points, shape ``(N, 3)`` (or ``(3,)``)."""
        return apply_affine(np.linalg.inv(self.affine), xyz)

    def corners(self) -> np.ndarray:
        """World coordinates of the 8 outer voxel corners (voxel edges, not centres)."""
        lo = np.full(3, -0.5)
        hi = np.asarray(self.shape, dtype=float) - 0.5
        ijk = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1])
                        for c in (lo[2], hi[2])])
        return self.voxel_to_world(ijk)

    def same_as(self, other: Grid, tol: float = 1e-4) -> bool:
        """True when shape and affine agree (affine within ``tol`` mm)."""
        return self.shape == other.shape and bool(np.allclose(self.affine, other.affine, atol=tol))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Grid) and self.same_as(other)

    def __hash__(self) -> int:
        return hash((self.shape, tuple(np.round(self.affine, 4).ravel())))

    def __repr__(self) -> str:
        vs = ", ".join(f"{v:g}" for v in self.voxel_sizes)
        return f"Grid(shape={self.shape}, voxel_sizes=({vs}) mm)"


def _spatial_shape(shape: tuple[int, ...], what: str) -> tuple[int, ...]:
    if len(shape) == 4 and shape[3] == 1:
        return shape[:3]
    if len(shape) == 5 and shape[3] == 1 and shape[4] == 1:
        return shape[:3]
    if len(shape) not in (2, 3):
        raise ImagingError(
            f"{what} has shape {shape}: expected a 2D or 3D volume; pick one volume of a 4D "
            "series first (e.g. img.slicer[..., 0])"
        )
    return shape


def as_volume(img: Any, what: str = "image") -> tuple[np.ndarray, Grid]:
    """Return ``(data, grid)`` for a nibabel image, an ROI, or an ``(array, affine)`` pair.

    The data keep their stored dtype (no float64 copy) and are always 3D.

    Raises
    ------
    ImagingError
        If the object has no affine, or is not a single 2D/3D volume.
    """
    if isinstance(img, tuple) and len(img) == 2:
        data, affine = np.asanyarray(img[0]), img[1]
    elif hasattr(img, "dataobj") and hasattr(img, "affine"):
        if img.affine is None:
            raise ImagingError(f"{what} has no affine: set one before using it as a volume")
        data, affine = np.asanyarray(img.dataobj), img.affine
    elif hasattr(img, "data") and hasattr(img, "grid"):
        return img.data, img.grid
    else:
        raise ImagingError(
            f"{what}: expected a nibabel image, an ROI or an (array, affine) pair, "
            f"got {type(img).__name__}"
        )
    shape = _spatial_shape(tuple(data.shape), what)
    data = data.reshape(shape if len(shape) == 3 else (*shape, 1))
    return data, Grid(data.shape, affine)

"""Resampling through world coordinates.

A contrast is brought onto another grid by mapping every target voxel to world mm and
back into the source's voxel space, then interpolating (trilinear by default). Points
that fall outside the source's field of view (beyond the outer voxel edges) get NaN, so
no statistic silently includes made-up values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi

from nora_lab.errors import ImagingError

from .grid import Grid, as_volume

__all__ = ["sample_world", "resample_to_grid", "world_grid", "voxel_map"]

_EDGE = 0.5 + 1e-6  # half a voxel beyond the outer voxel centres still lies inside


def voxel_map(source: Grid, target: Grid) -> np.ndarray:
    """4x4 matrix taking target voxel indices to source voxel coordinates."""
    return np.linalg.inv(source.affine) @ target.affine


def _inside(ijk: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Rows of ``ijk`` (N, 3) lying within the source volume's outer voxel edges."""
    hi = np.asarray(shape, dtype=float) - 1 + _EDGE
    return np.all((ijk >= -_EDGE) & (ijk <= hi), axis=1)


def sample_world(
    data: np.ndarray, grid: Grid, points: np.ndarray, *, order: int = 1, cval: float = np.nan
) -> np.ndarray:
    """Interpolate a volume at world points.

    Parameters
    ----------
    data : ndarray
        The volume, laid out on ``grid``.
    grid : Grid
        Geometry of ``data``.
    points : (N, 3) ndarray
        World coordinates in mm.
    order : int
        Spline order: 0 nearest, 1 trilinear.
    cval : float
        Value for points outside the volume.

    Returns
    -------
    ndarray of float64, shape (N,)
    """
    data = np.asanyarray(data).reshape(grid.shape)
    ijk = grid.world_to_voxel(np.asarray(points, dtype=float).reshape(-1, 3))
    return _sample_voxels(data, ijk, order=order, cval=cval)


def _sample_voxels(data: np.ndarray, ijk: np.ndarray, *, order: int, cval: float) -> np.ndarray:
    out = np.full(len(ijk), cval, dtype=float)
    inside = _inside(ijk, data.shape)
    if inside.any():
        coords = ijk[inside].T
        out[inside] = ndi.map_coordinates(data, coords, order=order, mode="nearest", output=float)
    return out


def resample_to_grid(
    img: Any, grid: Grid | Any, *, order: int = 1, cval: float = np.nan
) -> nib.Nifti1Image:
    """Resample an image onto ``grid`` through world coordinates.

    Parameters
    ----------
    img : nibabel image, ROI or (array, affine)
        The volume to resample.
    grid : Grid or image
        Target geometry (an image or ROI is taken for its grid).
    order : int
        0 keeps the data type (labels, masks); 1 (default) is trilinear, giving float32.
    cval : float
        Value outside the source's field of view (NaN; 0 for integer nearest-neighbour).

    Returns
    -------
    nibabel.Nifti1Image
        On the target grid.

    Examples
    --------
    >>> out = resample_to_grid(t2, t1)            # doctest: +SKIP
    """
    data, source = as_volume(img, "image to resample")
    if data.dtype == bool:
        data = data.astype(np.uint8)
    target = Grid.from_image(grid)
    if source.same_as(target):
        out = np.array(data, dtype=data.dtype if order == 0 else np.float32)
        return nib.Nifti1Image(out, target.affine)
    m = voxel_map(source, target)
    if order == 0:
        dtype = data.dtype
        if not np.issubdtype(dtype, np.floating) and np.isnan(cval):
            cval = 0
    else:
        dtype = np.dtype(np.float32)
    out = ndi.affine_transform(
        data, m[:3, :3], offset=m[:3, 3], output_shape=target.shape, order=order,
        mode="nearest", output=dtype if order == 0 else np.float32,
    )
    out[~_inside_mask(m, source.shape, target.shape)] = cval
    return nib.Nifti1Image(out, target.affine)


def _inside_mask(m: np.ndarray, src_shape: Sequence[int], shape: Sequence[int]) -> np.ndarray:
    """Boolean volume of target voxels whose source coordinate is inside the source."""
    i, j, k = (np.arange(n, dtype=np.float32) for n in shape)
    mask = np.ones(tuple(shape), dtype=bool)
    for d in range(3):
        c = (m[d, 0] * i)[:, None, None] + (m[d, 1] * j)[None, :, None] + (m[d, 2] * k)[None, None,
                                                                                        :]
        c += m[d, 3]
        mask &= (c >= -_EDGE) & (c <= src_shape[d] - 1 + _EDGE)
    return mask


def world_grid(
    images: Sequence[Any], voxel_size: float | Sequence[float] = 1.0,
    matrices: Sequence[np.ndarray | None] | None = None,
) -> Grid:
    """The "world" grid: an axis-aligned (RAS) box holding every image, at ``voxel_size``.

    Parameters
    ----------
    images : sequence of images, ROIs or Grids
        Everything the box must contain.
    voxel_size : float or 3 floats
        Voxel edge in mm.
    matrices : sequence of (4, 4) arrays or None, optional
        A world transform per image (the image as moved by it); None for unmoved.

    Returns
    -------
    Grid

    Raises
    ------
    ImagingError
        For no images or a non-positive voxel size.
    """
    if len(images) == 0:
        raise ImagingError("world_grid needs at least one image to bound")
    vs = np.broadcast_to(np.asarray(voxel_size, dtype=float), (3,))
    if np.any(vs <= 0):
        raise ImagingError(f"voxel_size must be positive, got {voxel_size}")
    matrices = list(matrices) if matrices is not None else [None] * len(images)
    pts = []
    for img, mat in zip(images, matrices, strict=True):
        c = Grid.from_image(img).corners()
        if mat is not None:
            c = c @ np.asarray(mat)[:3, :3].T + np.asarray(mat)[:3, 3]
        pts.append(c)
    allp = np.vstack(pts)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    shape = np.maximum(np.ceil((hi - lo) / vs - 1e-6).astype(int), 1)
    affine = np.diag([*vs, 1.0])
    affine[:3, 3] = lo + vs / 2
    return Grid(tuple(shape), affine)

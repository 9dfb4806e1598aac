"""Apply a manual alignment (rigid/affine matrix and/or deformation) to images.

The navigation tool's APPLY: every moving image is moved by the matrix, warped by the
deformation (``out(x) = moved(x - D(x))``) and resampled onto one common grid — the
"world" grid (a box around all images at a given voxel size) or a chosen image's matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi

from nora_lab.errors import ImagingError

from .deform import Deformation
from .grid import Grid, apply_affine, as_volume
from .resample import _inside_mask, _sample_voxels, world_grid
from .transforms import check_matrix

__all__ = ["apply_transform"]


def _target(images: Sequence[Any], grid: Any, voxel_size: float | Sequence[float],
            mats: list[np.ndarray]) -> Grid:
    if isinstance(grid, str):
        if grid != "world":
            raise ImagingError(
                f"grid must be 'world', an image index, an image or a Grid, got {grid!r}")
        return world_grid(images, voxel_size, mats)
    if isinstance(grid, int | np.integer):
        if not 0 <= grid < len(images):
            raise ImagingError(f"grid index {grid} does not name one of the {len(images)} images")
        return Grid.from_image(images[int(grid)])
    return Grid.from_image(grid)


def apply_transform(
    images: Any, matrix: Any = None, deformation: Deformation | None = None, *,
    grid: Any = "world", voxel_size: float | Sequence[float] = 1.0,
    moving: Sequence[int] | None = None, order: int = 1,
) -> list[nib.Nifti1Image]:
    """Move/warp images and resample them onto one grid.

    Parameters
    ----------
    images : image or sequence of images
        nibabel images, ROIs or (array, affine) pairs.
    matrix : (4, 4) array, optional
        World transform moving the images (see :mod:`~nora_lab.imaging.transforms`).
    deformation : Deformation, optional
        Warp applied after the matrix.
    grid : "world", int, image or Grid
        "world": the axis-aligned box around all (moved) images at ``voxel_size``;
        an int: the matrix of that image; an image/Grid: its geometry.
    voxel_size : float or 3 floats
        For the world grid, in mm.
    moving : sequence of int, optional
        Indices of the images that move (default: all); the others are only resampled.
    order : int
        Interpolation: 1 trilinear (float32 out), 0 nearest (keeps the dtype; for labels).

    Returns
    -------
    list of nibabel.Nifti1Image
        One per input, all on the chosen grid; NaN (0 for nearest on integers) outside.
    """
    single = not isinstance(images, list | tuple) or (
        isinstance(images, tuple) and len(images) == 2 and isinstance(images[0], np.ndarray)
    )
    imgs = [images] if single else list(images)
    if not imgs:
        raise ImagingError("apply_transform needs at least one image")
    m = np.eye(4) if matrix is None else check_matrix(matrix)
    idx = set(range(len(imgs)) if moving is None else moving)
    if not idx <= set(range(len(imgs))):
        raise ImagingError(f"moving indices {sorted(idx)} outside 0..{len(imgs) - 1}")
    mats = [m if i in idx else np.eye(4) for i in range(len(imgs))]
    target = _target(imgs, grid, voxel_size, mats)
    return [
        _resample(img, mat, deformation if i in idx else None, target, order)
        for i, (img, mat) in enumerate(zip(imgs, mats, strict=True))
    ]


def _resample(img: Any, mat: np.ndarray, deformation: Deformation | None, target: Grid,
              order: int) -> nib.Nifti1Image:
    data, src = as_volume(img, "image to transform")
    if data.dtype == bool:
        data = data.astype(np.uint8)
    integer = not np.issubdtype(data.dtype, np.floating)
    dtype = data.dtype if order == 0 else np.float32
    cval = 0 if (order == 0 and integer) else np.nan
    # target voxel -> source voxel, before the warp
    vox = np.linalg.inv(src.affine) @ np.linalg.inv(mat) @ target.affine
    if deformation is None or deformation.is_identity:
        out = ndi.affine_transform(data, vox[:3, :3], offset=vox[:3, 3], output_shape=target.shape,
                                   order=order, mode="nearest", output=dtype)
        out[~_inside_mask(vox, src.shape, target.shape)] = cval
        return nib.Nifti1Image(out, target.affine)
    out = np.empty(target.shape, dtype=dtype)
    world_to_src = np.linalg.inv(src.affine) @ np.linalg.inv(mat)
    jk = np.stack(np.meshgrid(np.arange(target.shape[1]), np.arange(target.shape[2]),
                              indexing="ij"), -1)
    jk = jk.reshape(-1, 2)
    for i in range(target.shape[0]):
        ijk = np.column_stack([np.full(len(jk), i), jk])
        x = target.voxel_to_world(ijk)
        y = x - deformation.displacement(x)
        s = apply_affine(world_to_src, y)
        out[i] = _sample_voxels(data, s, order=order,
                                cval=cval).reshape(target.shape[1:]).astype(dtype)
    return nib.Nifti1Image(out, target.affine)

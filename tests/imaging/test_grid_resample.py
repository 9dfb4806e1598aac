"""Grids and resampling through world coordinates."""

import nibabel as nib
import numpy as np
import pytest

from nora_lab.errors import ImagingError
from nora_lab.imaging import Grid, resample_to_grid, rotation, sample_world, world_grid
from nora_lab.imaging.grid import as_volume


def linear_image(affine, shape=(12, 12, 12)):
    """value = 2x - 3y + 0.5z + 7 at world (x, y, z): trilinear reproduces it exactly."""
    g = Grid(shape, affine)
    ijk = np.indices(shape).reshape(3, -1).T
    xyz = g.voxel_to_world(ijk)
    v = 2 * xyz[:, 0] - 3 * xyz[:, 1] + 0.5 * xyz[:, 2] + 7
    return nib.Nifti1Image(v.reshape(shape).astype(np.float64), affine)


def f(xyz):
    return 2 * xyz[..., 0] - 3 * xyz[..., 1] + 0.5 * xyz[..., 2] + 7


def test_grid_voxel_sizes_and_round_trip():
    a = np.diag([2.0, 3.0, 4.0, 1.0])
    a[:3, 3] = [10, 20, 30]
    g = Grid((5, 6, 7), a)
    assert g.voxel_sizes.tolist() == [2, 3, 4]
    assert g.voxel_volume == pytest.approx(24)
    assert g.voxel_to_world([1, 1, 1]).tolist() == [12, 23, 34]
    assert np.allclose(g.world_to_voxel(g.voxel_to_world([[1.5, 2, 3]])), [[1.5, 2, 3]])


def test_2d_shapes_become_one_slice():
    assert Grid((4, 5), np.eye(4)).shape == (4, 5, 1)
    data, g = as_volume(nib.Nifti1Image(np.zeros((4, 5), np.float32), np.eye(4)))
    assert data.shape == (4, 5, 1) and g.shape == (4, 5, 1)


@pytest.mark.parametrize(
    "bad, match",
    [
        (nib.Nifti1Image(np.zeros((3, 3, 3, 2), np.float32), np.eye(4)), "4D series"),
        ((np.zeros((3, 3, 3)), np.zeros((4, 4))), "singular"),
        ((np.zeros((3, 3, 3)), np.eye(3)), "4x4"),
        (np.zeros((3, 3, 3)), "nibabel image"),
    ],
)
def test_bad_volumes_are_refused(bad, match):
    with pytest.raises(ImagingError, match=match):
        as_volume(bad)


def test_resample_integer_shift_moves_voxels_and_marks_outside_nan():
    data = np.arange(8 * 8 * 8, dtype=np.float32).reshape(8, 8, 8)
    img = nib.Nifti1Image(data, np.eye(4))
    target = np.eye(4)
    target[:3, 3] = [2, 0, -1]  # target voxel (i,j,k) is source voxel (i+2, j, k-1)
    out = np.asarray(resample_to_grid(img, Grid((8, 8, 8), target)).dataobj)
    assert np.array_equal(out[:6, :, 1:], data[2:, :, :7])
    assert np.isnan(out[6:]).all() and np.isnan(out[:, :, 0]).all()


def test_resample_oblique_affine_reproduces_a_linear_field():
    src = linear_image(np.diag([1.5, 1.5, 1.5, 1.0]))
    tgt_aff = rotation([0, 0, 30], centre=[8, 8, 8]) @ np.diag([1.0, 1.2, 0.8, 1.0])
    tgt_aff[:3, 3] += [2, 3, 2]
    out = resample_to_grid(src, Grid((10, 10, 10), tgt_aff))
    vals = np.asarray(out.dataobj)
    xyz = Grid((10, 10, 10), tgt_aff).voxel_to_world(np.indices((10, 10, 10)).reshape(3, -1).T)
    ok = ~np.isnan(vals.ravel())
    assert ok.sum() > 300  # most of the target lies inside the source
    assert np.allclose(vals.ravel()[ok], f(xyz)[ok], atol=1e-3)


def test_resample_on_same_grid_is_a_copy_and_nearest_keeps_dtype():
    img = nib.Nifti1Image(np.arange(27, dtype=np.int16).reshape(3, 3, 3), np.eye(4))
    assert np.array_equal(np.asarray(resample_to_grid(img, img, order=0).dataobj), img.get_fdata())
    shifted = np.eye(4)
    shifted[0, 3] = 1
    out = resample_to_grid(img, Grid((3, 3, 3), shifted), order=0)
    assert out.get_data_dtype() == np.int16
    assert np.asarray(out.dataobj)[2].max() == 0  # outside -> 0 for integer nearest


def test_sample_world_at_points():
    src = linear_image(np.diag([2.0, 2.0, 2.0, 1.0]))
    pts = np.array([[3.3, 4.1, 5.7], [0, 0, 0], [-5, 0, 0]])
    v = sample_world(np.asarray(src.dataobj), Grid.from_image(src), pts)
    assert np.allclose(v[:2], f(pts[:2]))
    assert np.isnan(v[2])


def test_world_grid_bounds_all_images():
    a = nib.Nifti1Image(np.zeros((10, 10, 10), np.float32), np.eye(4))
    b_aff = np.eye(4)
    b_aff[:3, 3] = [20, -5, 0]
    b = nib.Nifti1Image(np.zeros((5, 5, 5), np.float32), b_aff)
    g = world_grid([a, b], 1.0)
    # x from -0.5 to 24.5, y from -5.5 to 9.5, z from -0.5 to 9.5
    assert g.shape == (25, 15, 10)
    assert np.allclose(g.affine[:3, 3], [0, -5, 0])
    with pytest.raises(ImagingError, match="voxel_size"):
        world_grid([a], 0)

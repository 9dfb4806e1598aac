"""Unconstrained 3D region growing."""

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage as ndi

from nora_lab.errors import ImagingError
from nora_lab.imaging import ROI, region_grow


def test_region_growing_stops_at_a_known_edge():
    data = np.zeros((60, 60, 60), np.float32)
    data[5:55, 10:50, 20:25] = 100  # a slab larger than the first search box
    data[30, 30, 40] = 100  # same value, not connected
    roi = ROI(np.zeros(data.shape), np.eye(4))
    edit = region_grow(roi, (30, 30, 22), data, (0, 200), similarity=0.1)
    expected = np.zeros(data.shape, bool)
    expected[5:55, 10:50, 20:25] = True
    assert np.array_equal(roi.data, expected)
    assert edit.bbox == (slice(5, 55), slice(10, 50), slice(20, 25))


def test_region_growing_equals_the_label_based_baseline_on_noise():
    rng = np.random.default_rng(1)
    data = ndi.gaussian_filter(rng.normal(size=(64, 64, 64)), 2).astype(np.float32)
    seed = (32, 32, 32)
    v0, tol = data[seed], 0.1 * 0.4
    lab, _ = ndi.label(np.abs(data - v0) <= tol)
    roi = ROI(np.zeros(data.shape), np.eye(4))
    region_grow(roi, seed, data, (-0.2, 0.2), similarity=0.1)
    assert np.array_equal(roi.data, lab == lab[seed])


def test_region_growing_uses_a_contrast_on_another_grid_and_can_erase():
    data = np.zeros((20, 20, 20), np.float32)
    data[5:15, 5:15, 5:15] = 100
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    roi = ROI(np.zeros((40, 40, 40)), np.eye(4))
    region_grow(roi, (20, 20, 20), nib.Nifti1Image(data, aff), (0, 100), similarity=0.2)
    # the cube spans world 10..28 mm (voxel centres), trilinear reaches >=80 up to 28.4 mm
    assert roi.data[10:29, 10:29, 10:29].all() and roi.count == 19**3
    region_grow(roi, (20, 20, 20), nib.Nifti1Image(data, aff), (0, 100), similarity=0.2, erase=True)
    assert roi.count == 0


def test_region_growing_bad_seed():
    roi = ROI(np.zeros((5, 5, 5)), np.eye(4))
    with pytest.raises(ImagingError, match="outside"):
        region_grow(roi, (9, 9, 9), np.zeros((5, 5, 5)), (0, 1))
    with pytest.raises(ImagingError, match="similarity"):
        region_grow(roi, (1, 1, 1), np.zeros((5, 5, 5)), (0, 1), similarity=-1)

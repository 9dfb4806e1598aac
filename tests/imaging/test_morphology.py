"""ROI operations equal scipy's with the same structuring element."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from nora_lab.errors import ImagingError
from nora_lab.imaging import (
    ROI,
    clear_roi,
    closing,
    difference,
    dilate,
    erode,
    intersection,
    opening,
    remove_salt,
    union,
)
from nora_lab.imaging.morphology import structure_of

SIX = ndi.generate_binary_structure(3, 1)


def blobby(shape=(30, 30, 30), seed=0):
    rng = np.random.default_rng(seed)
    d = ndi.gaussian_filter(rng.normal(size=shape), 1.5) > 0.1
    d[0:3, 0:3, :] = True  # touches the volume border
    return d


@pytest.mark.parametrize(
    "ours, theirs",
    [(erode, ndi.binary_erosion), (dilate, ndi.binary_dilation),
     (opening, ndi.binary_opening), (closing, ndi.binary_closing)],
)
@pytest.mark.parametrize("iterations", [1, 3])
def test_morphology_equals_scipy_on_the_whole_volume(ours, theirs, iterations):
    d = blobby()
    roi = ROI(d, np.diag([1.0, 1.0, 2.5, 1.0]))
    ours(roi, iterations)
    assert np.array_equal(roi.data, theirs(d, structure=SIX, iterations=iterations))


def test_six_neighbourhood_dilation_of_one_voxel():
    roi = ROI(np.zeros((5, 5, 5)), np.eye(4))
    roi.data[2, 2, 2] = True
    dilate(roi)
    assert roi.count == 7


def test_one_slice_roi_uses_the_in_plane_4_neighbourhood():
    d = np.zeros((7, 7, 1), bool)
    d[2:5, 2:5] = True
    roi = ROI(d, np.eye(4))
    assert structure_of(roi).sum() == 5
    erode(roi)
    assert roi.count == 1  # with the z-neighbours it would vanish
    dilate(roi)
    assert roi.count == 5


def test_set_operations():
    a = np.zeros((6, 6, 6), bool)
    b = np.zeros((6, 6, 6), bool)
    a[:3], b[2:4] = True, True
    for op, expected in [(union, a | b), (intersection, a & b), (difference, a & ~b)]:
        roi = ROI(a, np.eye(4))
        op(roi, ROI(b, np.eye(4)))
        assert np.array_equal(roi.data, expected), op.__name__


def test_set_operation_across_grids_needs_resample():
    a = ROI(np.zeros((6, 6, 6)), np.eye(4))
    b_aff = np.eye(4)
    b_aff[0, 3] = 2.0
    b = ROI(np.ones((2, 6, 6)), b_aff, name="b")
    with pytest.raises(ImagingError, match="resample=True"):
        union(a, b)
    union(a, b, resample=True)
    assert a.data[2:4].all() and a.count == 72


def test_remove_salt_drops_small_components():
    d = np.zeros((20, 20, 20), bool)
    d[2:6, 2:6, 2:6] = True  # 64 voxels
    d[10, 10, 10] = True  # salt
    d[15:17, 15, 15] = True  # 2 voxels
    roi = ROI(d, np.eye(4))
    edit = remove_salt(roi, 3)
    assert roi.count == 64 and edit.changed == 3
    with pytest.raises(ImagingError):
        remove_salt(roi, 0)


def test_clear_and_operations_on_an_empty_roi():
    roi = ROI(blobby(), np.eye(4))
    n = roi.count
    assert clear_roi(roi).changed == n and roi.count == 0
    assert dilate(roi).changed == 0
    roi.undo()
    assert roi.count == n

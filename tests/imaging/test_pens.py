"""Pens: footprints in mm, thresholds, similarity, connectivity, returned edits."""

import nibabel as nib
import numpy as np
import pytest

from nora_lab.errors import ImagingError
from nora_lab.imaging import ROI, brush, eraser, magic_pen, threshold_pen


def hand_ball(shape, centre, radius, vs):
    idx = np.indices(shape, dtype=float)
    return sum(((idx[a] - centre[a]) * vs[a]) ** 2 for a in range(3)) <= radius**2


def test_brush_is_a_ball_in_mm_on_anisotropic_voxels():
    vs = (1.0, 2.0, 3.0)
    roi = ROI(np.zeros((20, 20, 20)), np.diag([*vs, 1.0]))
    edit = brush(roi, (10, 10, 10), radius_mm=4)
    expected = hand_ball(roi.shape, (10, 10, 10), 4, vs)
    assert np.array_equal(roi.data, expected)
    # reach: 4 voxels along x, 2 along y, 1 along z
    assert edit.bbox == (slice(6, 15), slice(8, 13), slice(9, 12))
    assert edit.changed == expected.sum() and edit.label == "brush"
    assert np.array_equal(edit.new, expected[edit.bbox]) and not edit.old.any()


def test_brush_radius_zero_paints_the_centre_voxel_and_disc_stays_in_its_slice():
    roi = ROI(np.zeros((9, 9, 9)), np.eye(4))
    assert brush(roi, (4, 4, 4), 0).changed == 1
    roi.clear()
    brush(roi, (4, 4, 4), 2, axis=2)
    assert roi.data[:, :, 4].sum() == 13 and roi.count == 13  # 2D disc of radius 2: 13 pixels


def test_eraser_turns_voxels_off_and_preview_changes_nothing():
    roi = ROI(np.ones((9, 9, 9)), np.eye(4))
    pre = eraser(roi, (4, 4, 4), 1, preview=True)
    assert pre.changed == 7 and roi.count == 729
    assert eraser(roi, (4, 4, 4), 1).changed == 7 and roi.count == 722


def test_pen_at_the_volume_edge_is_clipped():
    roi = ROI(np.zeros((5, 5, 5)), np.eye(4))
    edit = brush(roi, (0, 0, 0), 1)
    assert edit.changed == 4 and edit.bbox == (slice(0, 2), slice(0, 2), slice(0, 2))


def step_image():
    """x < 10: value 10; x >= 10: value 90 (two half spaces)."""
    data = np.full((20, 20, 20), 10.0, np.float32)
    data[10:] = 90
    return data


def test_threshold_pen_higher_and_lower():
    data = step_image()
    roi = ROI(np.zeros(data.shape), np.eye(4))
    threshold_pen(roi, (10, 10, 10), 3, data, (50, 100), mode="higher")
    assert roi.data[:10].sum() == 0 and roi.count == hand_ball(data.shape, (10, 10, 10), 3,
                                                               (1, 1, 1))[10:].sum()
    roi.clear()
    threshold_pen(roi, (10, 10, 10), 3, data, (50, 100), mode="lower")
    assert roi.data[10:].sum() == 0 and roi.data[:10].sum() > 0
    roi.clear()
    assert threshold_pen(roi, (10, 10, 10), 3, data, (0, 95), mode="lower",
                         threshold="high").changed == \
        hand_ball(data.shape, (10, 10, 10), 3, (1, 1, 1)).sum()
    roi.clear()
    assert threshold_pen(roi, (10, 10, 10), 3, data, (0, 95), threshold=89.5).changed > 0


def test_threshold_pen_region_grow_keeps_only_what_is_connected_to_the_centre():
    data = np.zeros((21, 21, 21), np.float32)
    data[10, 10, 8:13] = 100  # a bar through the centre
    data[10, 14, 10] = 100  # an island inside the pen, not touching the bar
    roi = ROI(np.zeros(data.shape), np.eye(4))
    threshold_pen(roi, (10, 10, 10), 5, data, (50, 200), connected=True)
    assert roi.count == 5 and not roi.data[10, 14, 10]
    roi.clear()
    threshold_pen(roi, (10, 10, 10), 5, data, (50, 200), connected=False)
    assert roi.count == 6
    roi.clear()
    # centre below threshold: connected pen paints nothing
    assert threshold_pen(roi, (0, 0, 0), 5, data, (50, 200), connected=True).changed == 0


def test_magic_pen_similarity_is_relative_to_the_window_width():
    data = np.zeros((15, 15, 15), np.float32)
    data[:, :, 7:] = 30  # slab of 30 next to 0
    data[7, 7, 7] = 32
    roi = ROI(np.zeros(data.shape), np.eye(4))
    # window width 100, similarity 0.05 -> tolerance 5: 30 and 32 are similar to 32, 0 is not
    magic_pen(roi, (7, 7, 7), 2, data, (0, 100), similarity=0.05)
    ball = hand_ball(data.shape, (7, 7, 7), 2, (1, 1, 1))
    assert np.array_equal(roi.data, ball & (data > 20))
    roi.clear()
    # window width 10: tolerance 0.5 -> only the centre voxel
    assert magic_pen(roi, (7, 7, 7), 2, data, (0, 10), similarity=0.05).changed == 1


def test_connected_magic_pen_stops_at_a_gap():
    data = np.zeros((15, 15, 15), np.float32)
    data[7, 7, 4:11] = 50
    data[7, 7, 9] = 0  # gap
    roi = ROI(np.zeros(data.shape), np.eye(4))
    magic_pen(roi, (7, 7, 7), 4, data, (0, 100), similarity=0.1, connected=True)
    assert roi.data[7, 7].nonzero()[0].tolist() == [4, 5, 6, 7, 8]
    roi.clear()
    magic_pen(roi, (7, 7, 7), 4, data, (0, 100), similarity=0.1)
    assert roi.data[7, 7].nonzero()[0].tolist() == [4, 5, 6, 7, 8, 10]


def test_pen_contrast_on_another_grid_is_resampled_in_the_footprint():
    data = step_image()
    roi = ROI(np.zeros((20, 20, 20)), np.eye(4))
    aff = np.eye(4)
    aff[0, 3] = -5.0  # contrast shifted by 5 mm: the edge is at world x = 5
    threshold_pen(roi, (6, 10, 10), 3, nib.Nifti1Image(data, aff), (50, 100))
    xs = np.nonzero(roi.data.any(axis=(1, 2)))[0]
    assert xs.min() == 5


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda r, d: brush(r, (30, 0, 0), 2), "outside the ROI grid"),
        (lambda r, d: brush(r, (1, 1, 1), -1), "radius"),
        (lambda r, d: brush(r, (1, 1, 1), 1, axis=3), "axis"),
        (lambda r, d: threshold_pen(r, (1, 1, 1), 1, d, (5, 5)), "window"),
        (lambda r, d: threshold_pen(r, (1, 1, 1), 1, d, (0, 5), mode="up"), "mode"),
        (lambda r, d: magic_pen(r, (1, 1, 1), 1, d[:5], (0, 5)), "differs from the ROI grid"),
    ],
)
def test_pen_bad_input(call, match):
    roi = ROI(np.zeros((20, 20, 20)), np.eye(4))
    with pytest.raises(ImagingError, match=match):
        call(roi, step_image())


def test_pen_on_a_file_backed_image_reads_the_footprint(tmp_path):
    data = step_image()
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "c.nii")
    img = nib.load(tmp_path / "c.nii")
    roi = ROI(np.zeros(data.shape), np.eye(4))
    threshold_pen(roi, (10, 10, 10), 3, img, (50, 100))
    assert roi.data[:10].sum() == 0 and roi.data[10:].sum() > 0

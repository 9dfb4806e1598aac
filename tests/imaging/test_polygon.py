"""Polygon fill on a slice of any orientation."""

import numpy as np
import pytest

from nora_lab.errors import ImagingError
from nora_lab.imaging import ROI, polygon_fill
from nora_lab.imaging.polygon import polygon_mask

SQUARE = [(1.5, 1.5), (5.5, 1.5), (5.5, 5.5), (1.5, 5.5)]


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_square_fills_16_voxels_in_the_slice_of_each_orientation(axis):
    roi = ROI(np.zeros((8, 9, 10)), np.eye(4))
    edit = polygon_fill(roi, SQUARE, axis=axis, index=3)
    assert roi.count == 16 and edit.changed == 16
    sl = [slice(None)] * 3
    sl[axis] = 3
    plane = roi.data[tuple(sl)]
    assert plane[2:6, 2:6].all()
    assert edit.bbox[axis] == slice(3, 4)


def test_triangle_area_matches_pixel_count():
    m = polygon_mask(np.array([(0.0, 0.0), (100.0, 0.0), (0.0, 100.0)]), (120, 120))
    assert abs(m.sum() - 5000) < 120  # boundary pixels only


def test_concave_polygon_even_odd():
    # a "U": the notch stays empty
    u = [(0, 0), (9, 0), (9, 9), (6, 9), (6, 3), (3, 3), (3, 9), (0, 9)]
    m = polygon_mask(np.array(u, float) + 0.5, (12, 12))
    assert m[2, 8] and m[8, 8] and not m[5, 8]


def test_world_vertices_are_projected_onto_the_slice():
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    roi = ROI(np.zeros((10, 10, 10)), aff)
    pts = np.array([[3.0, 3.0, 8.2], [11.0, 3.0, 8.2], [11.0, 11.0, 7.9], [3.0, 11.0, 8.0]])
    polygon_fill(roi, pts, axis=2, world=True)
    assert roi.data[:, :, 4].sum() == 16 and roi.count == 16


def test_polygon_bad_input():
    roi = ROI(np.zeros((5, 5, 5)), np.eye(4))
    with pytest.raises(ImagingError, match="at least 3"):
        polygon_fill(roi, [(0, 0), (1, 1)], axis=2, index=0)
    with pytest.raises(ImagingError, match="outside the ROI"):
        polygon_fill(roi, SQUARE, axis=2, index=7)
    with pytest.raises(ImagingError, match="axis"):
        polygon_fill(roi, SQUARE, axis=5, index=0)

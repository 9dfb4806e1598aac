"""Undo/redo of every edit, storing only changed boxes."""

import numpy as np

from nora_lab.imaging import ROI, brush, dilate, eraser, magic_pen, polygon_fill, region_grow


def test_undo_redo_round_trip_of_mixed_edits():
    data = np.zeros((30, 30, 30), np.float32)
    data[10:20, 10:20, 10:20] = 50
    roi = ROI(np.zeros(data.shape), np.eye(4))
    states = [roi.data.copy()]
    for edit in (
        lambda: brush(roi, (5, 5, 5), 3),
        lambda: region_grow(roi, (15, 15, 15), data, (0, 100)),
        lambda: eraser(roi, (15, 15, 15), 2),
        lambda: magic_pen(roi, (25, 25, 25), 3, data, (0, 100)),
        lambda: dilate(roi),
        lambda: polygon_fill(roi, [(0, 0), (8, 0), (8, 8)], axis=0, index=29),
    ):
        assert edit().changed > 0
        states.append(roi.data.copy())
    for s in reversed(states[:-1]):
        assert roi.undo() is not None
        assert np.array_equal(roi.data, s)
    assert roi.undo() is None
    for s in states[1:]:
        assert roi.redo() is not None
        assert np.array_equal(roi.data, s)
    assert roi.redo() is None


def test_a_new_edit_clears_redo_and_no_change_is_not_recorded():
    roi = ROI(np.zeros((10, 10, 10)), np.eye(4))
    brush(roi, (5, 5, 5), 1)
    brush(roi, (2, 2, 2), 1)
    roi.undo()
    assert roi.history.can_redo
    brush(roi, (7, 7, 7), 1)
    assert not roi.history.can_redo
    n = len(roi.history)
    assert brush(roi, (7, 7, 7), 1).changed == 0
    assert len(roi.history) == n


def test_history_stores_boxes_not_volumes_and_is_bounded():
    roi = ROI(np.zeros((200, 200, 200)), np.eye(4), max_edits=5)
    for i in range(8):
        edit = brush(roi, (20 + 10 * i, 100, 100), 2)
        assert edit.bbox == tuple(slice(c - 2, c + 3) for c in (20 + 10 * i, 100, 100))
    assert len(roi.history) == 5
    assert roi.history.nbytes < 1000  # 5 edits of 5³ voxels, bit-packed twice
    for _ in range(5):
        roi.undo()
    assert roi.undo() is None and roi.count == 3 * 33


def test_edit_origin_and_values_are_what_a_widget_sends():
    roi = ROI(np.zeros((10, 10, 10)), np.eye(4))
    e = brush(roi, (4, 5, 6), 0)
    assert e.origin == (4, 5, 6) and e.new.shape == (1, 1, 1) and e.new.all()

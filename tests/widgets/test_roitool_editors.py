"""The ROI tool's completions (issue 21): polygons clicked corner by corner with corners
movable until an explicit commit, an ROI from the image at the lower window limit (NORA's
hand icon), a live preview of the threshold/magic pen at the crosshair, and the matrix
size in the ROI list."""

from __future__ import annotations

import numpy as np
import pytest

from nora_lab.errors import ImagingError
from nora_lab.widgets._roiedit import PREVIEW_LAYER

from . import test_roitool

setup = test_roitool.setup  # the ROI tool over the ramp, as in test_roitool
world = test_roitool.world


def click(page, affine, ijk, to=None):
    """A press at voxel ijk (dragged to voxel ``to``) in ROI edit mode, axial slice."""
    page.draw(phase="down", buttons=1, viewport=0, axis="axial", points=[world(affine, ijk)])
    if to is not None:
        page.draw(phase="move", buttons=1, viewport=0, axis="axial", points=[world(affine, to)])
    page.draw(phase="up", buttons=1, viewport=0, axis="axial", points=[])


def test_polygon_clicked_corner_by_corner_is_drawn_only_on_commit(setup, affine):
    viewer, page, tool = setup
    roi = tool.new("outline")
    tool.pen = "polygon-click"
    for ijk in ((2, 2, 5), (10, 2, 5), (10, 12, 5)):
        click(page, affine, ijk)
    assert len(tool.polygon_vertices) == 3 and roi.count == 0      # nothing drawn yet
    preview = viewer.layer(PREVIEW_LAYER)
    assert preview.volume.data.any() and viewer.draw_target != preview.id
    click(page, affine, (10, 12, 5), to=(4, 14, 5))                 # drag the third corner
    np.testing.assert_allclose(tool.polygon_vertices[2], world(affine, (4, 14, 5)))
    assert len(tool.polygon_vertices) == 3
    tool.move_vertex(0, world(affine, (1, 1, 5)))
    edit = tool.commit_polygon()
    assert edit.changed == roi.count > 0 and roi.data[:, :, 5].sum() == roi.count
    assert roi.data[3, 3, 5] and not roi.data[12, 3, 5]
    assert len(tool.polygon_vertices) == 0 and not viewer.layer(PREVIEW_LAYER).volume.data.any()
    tool.undo()
    assert roi.count == 0                                            # one undoable edit


def test_a_polygon_needs_three_corners_and_can_be_dropped(setup, affine):
    _, page, tool = setup
    tool.new("x")
    tool.pen = "polygon-click"
    click(page, affine, (2, 2, 5))
    with pytest.raises(ImagingError, match="at least 3 corners; 1 clicked"):
        tool.commit_polygon()
    tool.cancel_polygon()
    assert len(tool.polygon_vertices) == 0
    with pytest.raises(ImagingError, match="no clicked polygon"):
        tool.move_vertex(0, (0, 0, 0))
    tool.commit_button.click()
    assert "at least 3 corners" in tool.status.value


def test_roi_from_the_image_takes_the_voxels_above_the_lower_window_limit(setup, volume):
    viewer, _, tool = setup
    viewer.window = (1500.0, 1000.0)                                 # lower limit 1000
    roi = tool.from_window("bright")
    np.testing.assert_array_equal(roi.data, volume > 1000)
    assert tool.current is roi
    tool.hand_button.click()
    assert tool.names == ["bright", "from image"]


def test_live_preview_shows_the_threshold_pen_at_the_crosshair(setup, volume, affine):
    viewer, _, tool = setup
    tool.new("t")
    tool.pen = "threshold-higher"
    tool.pen_size = 6.0
    viewer.window = (1500.0, 1000.0)
    viewer.position = tuple(world(affine, (15, 12, 8)))
    assert not any(s["name"] == PREVIEW_LAYER for s in viewer.layers)   # off: nothing
    tool.preview_toggle.value = True
    shown = viewer.layer(PREVIEW_LAYER).volume.data != 0
    assert shown.any() and np.all(volume[shown] > 1000)              # what the pen would paint
    assert tool.current.count == 0                                   # the ROI is untouched
    viewer.position = tuple(world(affine, (2, 2, 8)))                # dark there: nothing
    assert not viewer.layer(PREVIEW_LAYER).volume.data.any()
    viewer.position = tuple(world(affine, (15, 12, 8)))
    tool.preview_toggle.value = False
    assert not viewer.layer(PREVIEW_LAYER).volume.data.any()


def test_the_roi_list_shows_each_rois_matrix_size(setup):
    _, _, tool = setup
    tool.new("a")
    assert "20×24×16" in tool.list_box.children[0].children[2].value

"""The assistant beside the ROI tool, driven by the messages the page sends
(``widgets/js/src/assist.js``): the proposal overlay, accept as one undoable edit, reset."""

import nibabel as nib
import numpy as np
import pytest

from nora_lab.assist.evaluate import dice
from nora_lab.assist.panel import LAYER
from nora_lab.widgets import ROITool, Viewer

from .conftest import phantom


@pytest.fixture
def tool():
    img, truth = phantom("ct")
    affine = np.diag([0.9, 0.9, 1.2, 1.0])
    viewer = Viewer(nib.Nifti1Image(img, affine))
    t = ROITool(viewer)
    t.truth, t.affine = truth, affine
    return t


def _page(tool, **msg):  # what assist.js sends, through the widget's comm handler
    tool.viewer._handle_custom_msg(msg, [])


def _world(tool, voxel):
    return (tool.affine @ np.r_[voxel, 1.0])[:3].tolist()


def _overlay(tool):
    spec = next(s for s in tool.viewer.layers if s["name"] == LAYER)
    return tool.viewer.layer(spec["id"]).volume.data != 0


def test_a_click_from_the_page_shows_the_proposal_as_an_overlay(tool):
    tool.assistant.mode = "point"
    assert tool.viewer.drawing is False
    _page(tool, type="assist_add", kind="point", positive=True,
          points=[_world(tool, (32, 30, 24))], axis=0)
    assert dice(_overlay(tool), tool.truth) >= 0.9
    assert tool.current is None  # nothing drawn into an ROI yet
    assert "data-voxels='" in tool.assistant.status.value


def test_accept_is_one_undoable_edit_of_the_current_roi(tool):
    tool.new("liver")
    _page(tool, type="assist_add", kind="point", positive=True,
          points=[_world(tool, (32, 30, 24))], axis=0)
    proposed = _overlay(tool).copy()
    _page(tool, type="assist_key", action="accept")
    roi = tool.roi("liver")
    assert np.array_equal(roi.data, proposed) and roi.count > 0
    assert not _overlay(tool).any()  # the overlay is cleared, the interactions forgotten
    assert tool.is_dirty("liver")
    tool.undo()
    assert roi.count == 0


def test_reset_clears_the_overlay_and_a_drag_is_a_box(tool):
    _page(tool, type="assist_add", kind="box", positive=True, axis=0,
          points=[_world(tool, (22, 20, 24)), _world(tool, (42, 40, 24))])
    assert dice(_overlay(tool), tool.truth) >= 0.85
    _page(tool, type="assist_key", action="reset")
    assert not _overlay(tool).any()
    assert tool.assistant.assistant.interactions == []


def test_accept_without_a_proposal_says_what_to_do(tool):
    _page(tool, type="assist_key", action="accept")
    assert "click on the object first" in tool.assistant.status.value

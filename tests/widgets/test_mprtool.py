"""The oblique MPR's model without a browser: the plane is settable and readable, a ctrl
drag from the page turns or moves it, the slice shown is the background on the plane, and
an ROI stroke drawn on the slice lands in the ROI's voxels at those world points."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nora_lab.errors import ImagingError
from nora_lab.widgets import ROITool, Viewer
from nora_lab.widgets.mprtool import LAYER, ObliqueMPR


@pytest.fixture
def setup(volume, affine, frontend):
    viewer = Viewer(layout="1x2")
    viewer.open(volume, affine=affine, name="ramp", viewport=[0])
    page = frontend(viewer)
    page.ready()
    return viewer, page, ObliqueMPR(viewer, viewport=1, size_mm=40.0, spacing_mm=1.0)


def test_the_plane_starts_axial_at_the_crosshair_in_its_own_viewport(setup):
    viewer, page, mpr = setup
    np.testing.assert_allclose(mpr.plane[:3, 3], viewer.position)
    np.testing.assert_allclose(mpr.normal, (0, 0, 1))
    spec = next(s for s in viewer.layers if s["name"] == LAYER)
    assert spec["viewports"] == [1] and spec["role"] == "background"
    assert page.of_type("mpr")[-1][0] == {"type": "mpr", "active": True, "viewport": 1}


def test_the_slice_is_the_background_on_the_plane(setup, volume, affine):
    viewer, _, mpr = setup
    mpr.set_plane(viewer.position, (1.0, 1.0, 0.0))
    img = mpr.slice()
    data = np.asarray(img.dataobj)[..., 0]
    world = img.affine @ np.r_[10, 20, 0, 1]
    ijk = np.linalg.solve(affine, world)[:3]                          # the ramp is linear
    assert data[10, 20] == pytest.approx(100 * ijk[0] + 10 * ijk[1] + ijk[2], abs=0.05)
    shown = json.loads(mpr.status.value.split("data-plane='")[1].split("'")[0])
    np.testing.assert_allclose(np.reshape(shown, (4, 4)), mpr.plane, atol=1e-4)  # the status


def test_ctrl_drags_from_the_page_turn_and_move_the_plane(setup):
    viewer, _, mpr = setup
    c = mpr.plane[:3, 3].copy()
    viewer._handle_custom_msg({"type": "mpr_drag", "dx": 0.0, "dy": 60.0}, [])
    assert mpr.normal @ (0, 0, 1) == pytest.approx(np.cos(np.deg2rad(30.0)))
    np.testing.assert_allclose(mpr.plane[:3, 3], c)
    viewer._handle_custom_msg({"type": "mpr_drag", "dx": 0.0, "dy": -4.0, "shift": True}, [])
    np.testing.assert_allclose(mpr.plane[:3, 3], c + 4.0 * mpr.normal)
    with pytest.raises(ImagingError, match="orthonormal"):
        mpr.plane = np.diag([1.0, 2.0, 1.0, 1.0])


def test_an_roi_drawn_on_the_oblique_slice_lands_in_the_rois_voxels(setup, affine):
    viewer, page, mpr = setup
    tool = ROITool(viewer)
    roi = tool.new("on the plane", reference=(np.zeros((20, 24, 16)), affine))
    mpr.set_plane(viewer.position, (0.0, 1.0, 1.0))
    tool.dims.value = "3-D"
    tool.pen_size = 0.1                                              # one voxel per point
    pts = mpr.grid.voxel_to_world(np.array([[15.0, 20.0, 0.0], [25.0, 20.0, 0.0]]))
    page.draw(phase="down", buttons=1, viewport=1, axis="axial", points=[pts[0].tolist()])
    page.draw(phase="up", buttons=1, viewport=1, axis="axial", points=[pts[1].tolist()])
    hit = np.argwhere(roi.data)
    want = np.rint(np.linalg.solve(affine, np.c_[pts, np.ones(2)].T).T[:, :3]).astype(int)
    assert {tuple(v) for v in want} <= {tuple(v) for v in hit}

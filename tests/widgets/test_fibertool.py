"""The fiber tool's model without a browser: spheres (from Python or the page's shift +
click), ROIs and waypoints select streamlines; keep/delete crop them with undo; the live
visitation and terminal maps follow the selection; the result is saved as .tck."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from nora_lab import imaging as im
from nora_lab.errors import ArchiveError, ImagingError
from nora_lab.widgets import FiberTool, Viewer


def bundle():
    """Three straight bundles along x at y = 0, 10 and 20 mm (z = 20), 4 fibers each."""
    xs = np.linspace(-15.0, 15.0, 16)
    lines = []
    for y in (0.0, 10.0, 20.0):
        for dz in (-1.0, -0.5, 0.5, 1.0):
            lines.append(np.c_[xs, np.full_like(xs, y), np.full_like(xs, 20.0 + dz)])
    return [s.astype(np.float32) for s in lines]


@pytest.fixture
def setup(volume, affine, frontend):
    viewer = Viewer()
    viewer.open(volume, affine=affine, name="t1")
    page = frontend(viewer)
    page.ready()
    tool = FiberTool(viewer, radius_mm=3.0)
    tool.load(bundle(), name="cst.tck")
    return viewer, page, tool


def layer_names(viewer):
    return [s["name"] for s in viewer.layers]


def test_loading_shows_the_fibers(setup):
    viewer, page, tool = setup
    assert len(tool.streamlines) == 12 and not tool.selection.any()
    assert "fibers" in layer_names(viewer) and "fiber selection" not in layer_names(viewer)
    assert "data-count='12'" in tool.status.value


def test_a_sphere_selects_the_fibers_through_it_and_modes_combine(setup):
    viewer, _, tool = setup
    sel = tool.select_sphere((0.0, 0.0, 20.0))
    assert sel.tolist() == [True] * 4 + [False] * 8
    assert "fiber selection" in layer_names(viewer)
    tool.select_sphere((0.0, 10.0, 20.0), mode="add")
    assert tool.selection.sum() == 8
    tool.select_sphere((0.0, 10.0, 20.0), mode="subtract")
    assert tool.selection.sum() == 4
    tool.select_sphere((0.0, 10.0, 20.0), radius=12.0, mode="intersect")
    assert tool.selection.sum() == 4
    with pytest.raises(ImagingError, match="unknown selection mode 'xor'"):
        tool.select_sphere((0, 0, 20), mode="xor")
    tool.clear()
    assert "fiber selection" not in layer_names(viewer)


def test_shift_click_in_the_page_selects_with_the_page_radius(setup):
    viewer, page, tool = setup
    viewer._handle_custom_msg({"type": "fiber_sphere", "centre": [0.0, 20.0, 20.0],
                               "radius": 2.0}, [])
    assert tool.radius == 2.0 and tool.radius_box.value == 2.0
    assert tool.selection.tolist() == [False] * 8 + [True] * 4
    told = page.of_type("fiber")[-1][0]
    assert told["selected"] == 4 and told["radius"] == 2.0


def test_keep_and_delete_crop_iteratively_with_undo(setup):
    _, _, tool = setup
    with pytest.raises(ImagingError, match="nothing is selected"):
        tool.keep()
    tool.select_sphere((0.0, 0.0, 20.0), radius=12.0)      # bundles at y=0 and y=10
    tool.keep()
    assert len(tool.streamlines) == 8 and not tool.selection.any()
    tool.select_sphere((0.0, 10.0, 20.0))
    tool.delete()
    np.testing.assert_allclose([s[0, 1] for s in tool.streamlines], [0.0] * 4)
    assert tool.undo() and len(tool.streamlines) == 8
    assert tool.undo() and len(tool.streamlines) == 12
    assert not tool.undo() and "nothing to undo" in tool.status.value
    assert tool.redo() and len(tool.streamlines) == 8


def test_rois_and_waypoints_select(setup, volume, affine):
    viewer, _, tool = setup
    mask = np.zeros(volume.shape, bool)
    ijk = np.rint(np.linalg.solve(affine, [10.0, 20.0, 20.0, 1.0])[:3]).astype(int)
    mask[ijk[0], ijk[1], ijk[2]:ijk[2] + 2] = True        # z 17.5 … 23.5 mm: the whole bundle
    viewer.set_mask(mask, affine, name="target")
    assert tool.select_roi("target").tolist() == [False] * 8 + [True] * 4
    sel = tool.select_waypoints(np.array([[-14.0, 10.0, 20.0], [14.0, 10.0, 20.0]]), 2.0)
    assert sel.tolist() == [False] * 4 + [True] * 4 + [False] * 4
    with pytest.raises(ImagingError, match="12 entries"):
        tool.selection = [True]


def test_live_maps_follow_the_selection(setup, volume, affine):
    viewer, _, tool = setup
    assert tool.maps == {}
    tool.live_maps = True
    assert {"visitation map", "terminal map"} <= set(layer_names(viewer))
    assert "data-terminals='24'" in tool.status.value            # the status line says so
    assert int(np.asarray(tool.maps["visitation"].dataobj).max()) == 2     # 2 per z voxel
    assert int(np.asarray(tool.maps["terminals"].dataobj).sum()) == 24   # 12 fibers, 2 ends
    tool.select_sphere((0.0, 0.0, 20.0))
    assert int(np.asarray(tool.maps["terminals"].dataobj).sum()) == 8    # the 4 selected
    np.testing.assert_allclose(tool.maps["visitation"].affine, affine)
    tool.live_maps = False
    assert "visitation map" not in layer_names(viewer)


def terminals(tool) -> int:
    return int(np.asarray(tool.maps["terminals"].dataobj).sum())


def test_live_maps_follow_the_moving_sphere_before_any_click(setup):
    viewer, page, tool = setup
    tool.live_maps = True
    tool.select_sphere((0.0, 0.0, 20.0))                        # 4 selected
    preview = tool.preview_sphere((0.0, 20.0, 20.0))
    assert preview.tolist() == [False] * 8 + [True] * 4
    assert tool.selection.sum() == 4 and terminals(tool) == 8   # the maps show the preview
    np.testing.assert_array_equal(tool.preview, preview)
    assert "data-preview='4'" in tool.status.value
    tool.preview_sphere((0.0, 10.0, 20.0), mode="add")          # what an add-click would give
    assert terminals(tool) == 16 and tool.selection.sum() == 4
    assert tool.preview_sphere(None) is None                    # the sphere is gone
    assert tool.preview is None and terminals(tool) == 8        # back to the selection


def test_the_pages_sphere_places_are_answered_one_by_one(setup):
    viewer, page, tool = setup
    tool.live_maps = True
    for seq, y in ((1, 0.0), (2, 20.0)):
        viewer._handle_custom_msg({"type": "fiber_hover", "seq": seq, "centre": [0.0, y, 20.0],
                                   "radius": 2.0}, [])
        told = page.of_type("fiber")[-1][0]
        assert told["hover"] == seq and told["preview"] == 4    # the answer the page waits for
    assert tool.preview.tolist() == [False] * 8 + [True] * 4 and not tool.selection.any()
    viewer._handle_custom_msg({"type": "fiber_sphere", "centre": [0.0, 20.0, 20.0]}, [])
    assert tool.preview is None and tool.selection.sum() == 4   # a click ends the preview
    viewer._handle_custom_msg({"type": "fiber_hover", "seq": 3, "centre": None}, [])
    assert page.of_type("fiber")[-1][0]["hover"] == 3 and terminals(tool) == 8
    viewer._handle_custom_msg({"type": "fiber_hover", "seq": 4, "centre": ["x"]}, [])
    assert page.of_type("fiber")[-1][0]["hover"] == 4           # answered, even a bad place
    assert "⚠" in tool.status.value


def test_save_writes_tck_into_the_study(desk_project, tmp_path):
    viewer = Viewer()
    viewer.open(desk_project.study_dir("P001#S1") / "3_t1/t1.nii.gz")
    tool = FiberTool(viewer, desk_project, "P001#S1", radius_mm=3.0)
    src = tmp_path / "cst.tck"
    im.save_streamlines(bundle(), src)
    tool.load(src)
    tool.select_sphere((0.0, 0.0, 20.0))
    tool.keep()
    path = tool.save()
    assert path == desk_project.study_dir("P001#S1") / "fibers/cst_edit.tck"
    back = im.load_streamlines(path)
    assert len(back) == 4
    np.testing.assert_allclose(back[0], bundle()[0], atol=1e-4)
    assert desk_project.files(psid="P001#S1", tags=["fibers"])["relpath"].tolist() == [
        "fibers/cst_edit.tck"]
    tool.select_sphere((0.0, 0.0, 19.0), radius=0.6)
    out = tool.save(path=tmp_path / "part.tck", selection=True)
    assert len(nib.streamlines.load(str(out)).streamlines) == 2
    with pytest.raises(ImagingError, match="saves .tck"):
        tool.save("fibers/x.trk")


def test_without_a_tractogram_or_study_the_tool_says_what_to_do(volume, affine, tmp_path):
    viewer = Viewer()
    tool = FiberTool(viewer)
    with pytest.raises(ImagingError, match="no tractogram"):
        tool.select_sphere((0, 0, 0))
    tool.buttons["keep"].click()
    assert "no tractogram" in tool.status.value
    tool.load(bundle())
    with pytest.raises(ArchiveError, match="project and a study"):
        tool.save()
    bad = tmp_path / "bad.tck"
    bad.write_bytes(b"not a tck file")
    with pytest.raises(ImagingError, match="bad.tck"):
        tool.load(bad)
    assert len(tool.streamlines) == 12                     # the loaded tract is kept

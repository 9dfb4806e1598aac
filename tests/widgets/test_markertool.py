"""The marker tool's model without a browser: clicks arrive as the viewer's "click"
messages; points are shown as a mask updated by diffs; sets are saved into the study's
annotations in NORA's layout and read back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nora_lab.errors import ImagingError, NoraError
from nora_lab.imaging import PointSet
from nora_lab.widgets import MarkerTool, Viewer


@pytest.fixture
def setup(volume, affine, frontend):
    viewer = Viewer()
    viewer.open(volume, affine=affine, name="ramp")
    page = frontend(viewer)
    page.ready()
    return viewer, page, MarkerTool(viewer, radius_mm=3.0)


def click(viewer, xyz, shift=False):
    viewer._on_frontend_msg(viewer, {"type": "click", "viewport": 0, "axis": "axial",
                                     "points": [list(xyz)], "shift": shift}, [])


def shown(page, tool):
    """The markers mask as the page holds it (diffs applied), in world-ordered voxels."""
    img = page.image(tool._layer)
    return np.asarray(img.dataobj) != 0, img.affine


def voxel(affine, xyz):
    return tuple(np.rint(np.linalg.solve(affine, np.r_[xyz, 1.0])[:3]).astype(int))


def test_clicks_add_points_only_while_adding(setup):
    viewer, page, tool = setup
    click(viewer, (0.0, 0.0, 20.0))
    assert tool.sets == []                                  # not adding: the crosshair just moves
    tool.adding = True
    click(viewer, (0.0, 0.0, 20.0))
    click(viewer, (4.0, 5.0, 22.0))
    click(viewer, (9.0, 9.0, 9.0), shift=True)              # shift+click = Niivue's measurement
    ps = tool.current
    assert ps.name == "pointset" and ps.names == ["pointset-1", "pointset-2"]
    np.testing.assert_allclose(ps.coords, [[0, 0, 20], [4, 5, 22]])
    assert "data-points='2'" in tool.status.value
    assert len(tool.points_box.children) == 2


def test_points_are_shown_as_balls_and_removed_by_diffs(setup):
    viewer, page, tool = setup
    tool.new("landmarks")
    tool.add_point((0.0, 0.0, 22.0), "AC")
    begins = len(page.of_type("begin"))
    tool.add_point((10.0, 5.0, 31.0), "PC")
    mask, aff = shown(page, tool)
    assert mask[voxel(aff, (0.0, 0.0, 22.0))] and mask[voxel(aff, (10.0, 5.0, 31.0))]
    assert 2 < mask.sum() < 200
    assert len(page.of_type("begin")) == begins             # the second point: a diff
    tool.remove_point("AC")
    mask, aff = shown(page, tool)
    assert not mask[voxel(aff, (0.0, 0.0, 22.0))] and mask[voxel(aff, (10.0, 5.0, 31.0))]
    # the markers never become the draw target
    assert viewer.draw_target == ""


def test_rename_goto_and_sets(setup):
    viewer, page, tool = setup
    tool.new("a")
    tool.add_point((0.0, 0.0, 22.0))
    tool.points_box.children[0].children[0].value = "nasion"  # typing into the name box
    assert tool.current.names == ["nasion"]
    assert tool.goto("nasion") == pytest.approx((0.0, 0.0, 22.0))
    assert viewer.position == pytest.approx((0.0, 0.0, 22.0))
    with pytest.raises(ImagingError, match="no point 5"):
        tool.goto(5)
    tool.rename("fiducials")
    assert tool.current.name == "fiducials"
    assert tool.current.relpath == "annotations/fiducials.ano.json"
    tool.new("fiducials")
    assert [s.name for s in tool.sets] == ["fiducials", "fiducials-2"]
    with pytest.raises(ImagingError, match="already"):
        tool.rename("fiducials")
    tool.set_picker.value = "fiducials"                     # the picker
    assert tool.current.names == ["nasion"]
    tool.delete()
    mask, _ = shown(page, tool)
    assert not mask.any() and [s.name for s in tool.sets] == ["fiducials-2"]


def test_save_and_load_through_the_study_annotations(desk_project, frontend):
    viewer = Viewer()
    viewer.open(desk_project.study_dir("P001#S1") / "3_t1/t1.nii.gz")
    tool = MarkerTool(viewer, desk_project, "P001#S1")
    saved = []
    tool.on_save(lambda *a: saved.append(a))
    tool.new("landmarks")
    tool.add_point((0.0, 0.0, 22.0), "AC")
    tool.add_point((2.0, -3.0, 25.0), "PC")
    path = tool.save()
    assert path == desk_project.study_dir("P001#S1") / "annotations/landmarks.ano.json"
    assert desk_project.files("annotations/*", psid="P001#S1")["relpath"].tolist() == [
        "annotations/landmarks.ano.json"]
    assert saved == [("P001#S1", "annotations/landmarks.ano.json")]
    obj = json.loads(path.read_text())
    assert obj["annotations"][0]["type"] == "pointset"       # NORA's annotation layout
    assert PointSet.from_dict(obj).names == ["AC", "PC"]
    tool.rename_point("PC", "posterior commissure")
    tool.save()                                              # saving again overwrites
    other = MarkerTool(Viewer(), desk_project, "P001#S1")
    (ps,) = other.load(path)
    assert ps.names == ["AC", "posterior commissure"]
    np.testing.assert_allclose(ps.coords, [[0, 0, 22], [2, -3, 25]])


def test_errors_say_what_to_do(setup, tmp_path):
    viewer, page, tool = setup
    tool.new("a")
    with pytest.raises(NoraError, match=r"MarkerTool\(viewer, project, psid\)"):
        tool.save()
    bad = tmp_path / "bad.ano.json"
    bad.write_text("{not json")
    with pytest.raises(ImagingError, match="bad.ano.json: not a readable annotation file"):
        tool.load(bad)
    with pytest.raises(ImagingError, match="non-empty name"):
        tool.rename_point(0, " ")


def test_reset_forgets_the_sets(setup):
    viewer, page, tool = setup
    tool.add_point((0.0, 0.0, 22.0))
    layer = tool._layer
    tool.reset("P009#S1")
    assert tool.sets == [] and tool.psid == "P009#S1"
    assert layer not in [s["id"] for s in viewer.layers]

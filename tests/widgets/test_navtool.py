"""The navigation tool's model without a browser: the matrix moves the moving images
(set from Python or dragged in the page, one undo step per drag), Gaussian markers warp
them, and APPLY files the resampled images with the transform in the study — all of
them or none."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from nora_lab import imaging as im
from nora_lab.errors import ArchiveError, ImagingError, NoraError
from nora_lab.widgets import NavigationTool, Viewer


@pytest.fixture
def setup(volume, affine, frontend):
    viewer = Viewer()
    viewer.open(volume, affine=affine, name="fixed.nii.gz")
    viewer.open(volume, affine=affine, name="moving.nii.gz", role="overlay")
    page = frontend(viewer)
    page.ready()
    return viewer, page, NavigationTool(viewer)


def page_says(viewer, **msg):
    """A message from the page, to every listener of the viewer's comm (as ipywidgets)."""
    viewer._handle_custom_msg(msg, [])


def drag(viewer, phase, matrix):
    page_says(viewer, type="nav_drag", phase=phase,
              matrix=np.asarray(matrix, float).ravel().tolist())


def test_the_background_is_fixed_and_overlays_move(setup):
    viewer, _, tool = setup
    assert tool.moving == ["moving.nii.gz"]
    assert "fixed: <b>fixed.nii.gz</b>" in tool.moving_box.value
    mask = viewer.set_mask(np.zeros((20, 24, 16), bool), viewer.layer("fixed.nii.gz").volume.affine,
                           name="roi")
    assert tool.moving == ["moving.nii.gz", "roi"]       # an image and its ROIs move together
    tool.moving = ["roi"]
    assert tool.moving == [mask.name]
    assert tool.moving_picker.options == ("fixed.nii.gz", "moving.nii.gz", "roi")
    assert tool.moving_picker.value == ("roi",)
    tool.moving_picker.value = ("moving.nii.gz",)          # picked in the form
    assert tool.moving == ["moving.nii.gz"]
    with pytest.raises(ImagingError, match="no layer 'nope'"):
        tool.moving = ["nope"]


def test_translations_rotations_and_scalings_compose_and_undo(setup):
    viewer, page, tool = setup
    tool.translate((2.0, 0.0, 0.0))
    tool.rotate((0.0, 0.0, 90.0), centre=(0.0, 0.0, 0.0))
    np.testing.assert_allclose(tool.matrix[:3, 3], [0.0, 2.0, 0.0], atol=1e-12)
    tool.scale(2.0, centre=(0.0, 0.0, 0.0))
    np.testing.assert_allclose(tool.matrix @ [1, 0, 0, 1], [0, 6, 0, 1], atol=1e-12)
    tool.undo()
    tool.undo()
    np.testing.assert_allclose(tool.matrix, im.translation((2, 0, 0)))
    tool.redo()
    np.testing.assert_allclose(tool.matrix[:3, 3], [0.0, 2.0, 0.0], atol=1e-12)
    tool.undo(), tool.undo()
    assert tool.undo() is None and "nothing to undo" in tool.status.value
    np.testing.assert_allclose(tool.matrix, np.eye(4))


def test_the_page_is_told_the_matrix_and_the_layers_it_moves(setup):
    viewer, page, tool = setup
    tool.matrix = im.translation((0.0, 5.0, 0.0))
    msg = page.of_type("nav")[-1][0]
    assert msg["layers"] == [viewer.layer("moving.nii.gz").id]
    np.testing.assert_allclose(np.reshape(msg["matrix"], (4, 4)), im.translation((0, 5, 0)))
    assert "data-matrix=" in tool.status.value
    n = len(page.of_type("nav"))
    page_says(viewer, type="ready", have={})              # a page (re)loaded learns it again
    assert len(page.of_type("nav")) == n + 1


@pytest.mark.parametrize("bad, words", [
    (np.zeros((3, 3)), "4x4"),
    (np.diag([1.0, 1.0, 0.0, 1.0]), "singular"),
    (np.r_[np.eye(4)[:3], [[1, 0, 0, 1]]], "not affine"),
])
def test_a_bad_matrix_is_refused_and_the_old_one_kept(setup, bad, words):
    _, _, tool = setup
    tool.translate((1, 2, 3))
    with pytest.raises(ImagingError, match=words):
        tool.matrix = bad
    np.testing.assert_allclose(tool.matrix, im.translation((1, 2, 3)))


def test_a_drag_in_the_page_moves_only_while_active_and_undoes_as_one_step(setup):
    viewer, page, tool = setup
    drag(viewer, "down", np.eye(4))
    drag(viewer, "end", im.translation((3, 0, 0)))
    np.testing.assert_allclose(tool.matrix, np.eye(4))    # not active: ignored
    tool.active = True
    assert tool.active_toggle.value and page.of_type("nav")[-1][0]["active"]
    drag(viewer, "down", np.eye(4))
    for x in (1.0, 2.0, 3.0):
        drag(viewer, "move", im.translation((x, 0, 0)))
    drag(viewer, "end", im.translation((4, 0, 0)))
    np.testing.assert_allclose(tool.matrix, im.translation((4, 0, 0)))
    tool.undo()
    np.testing.assert_allclose(tool.matrix, np.eye(4))
    drag(viewer, "end", [[1, 0], [0, 1]])                  # a broken message: status, no change
    assert "⚠" in tool.status.value
    np.testing.assert_allclose(tool.matrix, np.eye(4))


def test_resampled_images_land_where_the_matrix_puts_them(setup, volume, affine):
    _, _, tool = setup
    tool.translate((2.0, 0.0, 0.0))                       # one voxel along i (2 mm voxels)
    out = tool.resampled("fixed")["moving.nii.gz"]
    np.testing.assert_allclose(out.affine, affine)
    data = np.asarray(out.dataobj)
    np.testing.assert_allclose(data[1:], volume[:-1])
    assert np.isnan(data[0]).all()                        # nothing was there before the move
    world = tool.resampled("world", voxel_size=4.0)["moving.nii.gz"]
    np.testing.assert_allclose(np.diag(world.affine)[:3], [4.0, 4.0, 4.0])


def test_markers_warp_and_keypoints_carry_points_onto_targets(setup):
    viewer, _, tool = setup
    m = tool.add_marker((0.0, 0.0, 20.0), (2.0, 0.0, 0.0), size=6.0)
    assert tool.markers == [m]
    tool.move_marker(0, (4.0, 0.0, 0.0))
    assert tool.markers[0].vector.tolist() == [4.0, 0.0, 0.0]
    with pytest.raises(ImagingError, match="no marker 3"):
        tool.move_marker(3, (1, 1, 1))
    tool.remove_marker(0)
    assert tool.markers == []
    src = np.array([[0.0, 0.0, 20.0], [10.0, 10.0, 20.0]])
    tool.keypoints(src, src + [1.0, 0.0, 0.0], size=5.0)
    d = tool.deformation.displacement(src + [1.0, 0.0, 0.0])
    np.testing.assert_allclose(d, [[1, 0, 0], [1, 0, 0]], atol=1e-9)
    tool.dump("fixed")
    assert tool.markers == [] and tool.deformation.field_data is not None
    np.testing.assert_allclose(tool.deformation.displacement(src + [1, 0, 0]), d, atol=0.2)


def test_state_is_json_and_round_trips(setup, tmp_path):
    _, _, tool = setup
    tool.translate((1.0, 2.0, 3.0))
    tool.add_marker((0, 0, 0), (1, 0, 0), 4.0)
    state = json.loads(json.dumps(tool.state))
    tool.reset()
    assert tool.markers == [] and np.allclose(tool.matrix, np.eye(4))
    tool.state = state
    np.testing.assert_allclose(tool.matrix, im.translation((1, 2, 3)))
    assert tool.markers[0].size == 4.0
    path = tmp_path / "t.json"
    path.write_text(json.dumps(state))
    tool.reset()
    tool.load(path)
    np.testing.assert_allclose(tool.matrix, im.translation((1, 2, 3)))
    path.write_text("{ not json")
    with pytest.raises(ImagingError, match="t.json: not a readable transform file"):
        tool.load(path)
    with pytest.raises(ImagingError, match="'matrix'"):
        tool.state = {"markers": []}


def test_apply_files_images_and_transform_in_the_study_all_or_none(desk_project, volume, affine,
                                                                    frontend):
    viewer = Viewer()
    viewer.open(desk_project.study_dir("P002#S1") / "3_t1/t1.nii.gz")
    viewer.open(desk_project.study_dir("P002#S1") / "5_flair/flair.nii.gz", role="overlay")
    viewer.set_mask(volume > 1500, affine, name="lesion")
    tool = NavigationTool(viewer, desk_project, "P002#S1")
    tool.translate((0.0, 2.5, 0.0))                       # one voxel along j
    tool.apply()
    files = desk_project.files(psid="P002#S1", tags=["navigated"])
    assert sorted(files["relpath"]) == ["nav/flair_nav.nii.gz", "nav/lesion_nav.nii.gz",
                                        "nav/transform_nav.json"]
    roi = desk_project.files(psid="P002#S1", tags=["navigated", "roi"])
    assert roi["relpath"].tolist() == ["nav/lesion_nav.nii.gz"]
    nav = desk_project.study_dir("P002#S1") / "nav"
    flair = nib.load(nav / "flair_nav.nii.gz")
    np.testing.assert_allclose(flair.affine, affine)
    np.testing.assert_allclose(np.asarray(flair.dataobj)[:, 1:], 2 * volume[:, :-1])
    lesion = np.asarray(nib.load(nav / "lesion_nav.nii.gz").dataobj)
    np.testing.assert_array_equal(lesion[:, 1:], (volume > 1500)[:, :-1])
    saved = json.loads((nav / "transform_nav.json").read_text())
    np.testing.assert_allclose(saved["matrix"], im.translation((0, 2.5, 0)))
    assert saved["grid"] == "fixed" and saved["moving"] == ["flair", "lesion"]

    tool.apply()                                          # a re-run adds and changes nothing
    assert len(desk_project.files(psid="P002#S1", tags=["navigated"])) == 3
    before = (nav / "flair_nav.nii.gz").read_bytes()
    tool.translate((0.0, 2.5, 0.0))
    tool.add_marker((0, 0, 20), (1, 0, 0), 5.0)
    with pytest.raises(NoraError, match="flair_nav.nii.gz"):
        tool.apply()                                      # would overwrite: nothing written
    assert (nav / "flair_nav.nii.gz").read_bytes() == before
    assert not (nav / "deformation_nav.nii.gz").exists()
    tool.apply(overwrite=True)
    assert (nav / "flair_nav.nii.gz").read_bytes() != before
    field = nib.load(nav / "deformation_nav.nii.gz")
    assert field.shape == (20, 24, 16, 1, 3)
    restored = NavigationTool(viewer).restore(nav / "deformation_nav.nii.gz")
    assert restored.field_data is not None


def test_apply_without_a_study_or_moving_image_says_what_to_do(setup, volume, affine):
    viewer, _, tool = setup
    with pytest.raises(ArchiveError, match="project and a study"):
        tool.apply()
    alone = Viewer()
    alone.open(volume, affine=affine, name="only")
    with pytest.raises(ImagingError, match="no moving image"):
        NavigationTool(alone).resampled()
    tool.moving = ["fixed.nii.gz", "moving.nii.gz"]
    with pytest.raises(ImagingError, match="grid='fixed' needs a background"):
        tool.resampled("fixed")
    tool.apply_button.click()                             # from the form: the status line says
    assert "project and a study" in tool.status.value


def test_markers_are_placed_and_dragged_from_the_page_and_shown(setup):
    viewer, page, tool = setup
    tool.active = True
    page_says(viewer, type="nav_marker", phase="down", index=-1, centre=[0.0, 0.0, 22.0],
              vector=[0, 0, 0])
    assert tool.markers == []                              # not placing: a ctrl drag moves
    tool.placing, tool.marker_size = True, 8.0
    page_says(viewer, type="nav_marker", phase="down", index=-1, centre=[0.0, 0.0, 22.0],
              vector=[0, 0, 0])
    page_says(viewer, type="nav_marker", phase="end", index=0, centre=[0.0, 0.0, 22.0],
              vector=[4.0, 0.0, 0.0])
    (m,) = tool.markers
    assert m.size == 8.0 and m.centre.tolist() == [0.0, 0.0, 22.0]
    assert m.vector.tolist() == [4.0, 0.0, 0.0]
    told = page.of_type("nav")[-1][0]
    assert told["placing"] and told["markers"] == [[0.0, 0.0, 22.0, 4.0, 0.0, 0.0, 8.0]]
    shown = viewer.layer("deformation markers").volume
    world = shown.affine @ np.r_[np.argwhere(shown.data).mean(0), 1.0]
    assert np.linalg.norm(world[:3] - [0.0, 0.0, 22.0]) < 3.0   # mostly the centre's ball
    tool.remove_marker(0)
    assert not viewer.layer("deformation markers").volume.data.any()


def visible(viewer, name):
    return viewer.layer(name).visible


def test_the_warped_preview_shows_what_apply_writes_and_follows_the_markers(setup):
    viewer, page, tool = setup
    tool.active = tool.placing = True
    tool.warp_preview = True
    assert "moving.nii.gz (warped)" not in [s["name"] for s in viewer.layers]   # no warp yet
    page_says(viewer, type="nav_marker", phase="down", index=-1, centre=[0.0, 0.0, 22.0],
              vector=[0, 0, 0])
    page_says(viewer, type="nav_marker", phase="move", index=0, centre=[0.0, 0.0, 22.0],
              vector=[0.0, 0.0, 3.0])
    assert "moving.nii.gz (warped)" not in [s["name"] for s in viewer.layers]   # while dragged
    page_says(viewer, type="nav_marker", phase="end", index=0, centre=[0.0, 0.0, 22.0],
              vector=[0.0, 0.0, 6.0])
    warped = viewer.layer("moving.nii.gz (warped)")
    assert not visible(viewer, "moving.nii.gz") and "data-warped='1'" in tool.status.value
    want = np.nan_to_num(np.asarray(tool.resampled("fixed")["moving.nii.gz"].dataobj))
    assert warped.volume.data.dtype == viewer.layer("moving.nii.gz").volume.data.dtype
    np.testing.assert_allclose(warped.volume.data, want, atol=0.5)
    np.testing.assert_allclose(warped.volume.affine, viewer.layer("fixed.nii.gz").volume.affine)
    grid = im.Grid.from_image(tool._image(viewer.layer("fixed.nii.gz").id))
    unwarped = im.apply_transform(tool._image(viewer.layer("moving.nii.gz").id), tool.matrix,
                                  grid=grid)[0]
    assert np.abs(want - np.nan_to_num(np.asarray(unwarped.dataobj))).max() > 1  # the marker
    assert tool.moving == ["moving.nii.gz"]                         # the preview never moves
    assert "moving.nii.gz (warped)" not in page.of_type("nav")[-1][0]["layers"]
    first = warped.id
    tool.translate((2.0, 0.0, 0.0))                                 # from Python: recomputed
    assert viewer.layer("moving.nii.gz (warped)").id != first
    drag(viewer, "down", tool.matrix)                               # a ctrl-drag: the moving
    assert visible(viewer, "moving.nii.gz")                         # image shows, moved live
    assert "moving.nii.gz (warped)" not in [s["name"] for s in viewer.layers]
    drag(viewer, "end", im.compose(tool.matrix, im.translation((1.0, 0.0, 0.0))))
    assert not visible(viewer, "moving.nii.gz")                     # its end: warped again
    tool.warp_preview = False
    assert visible(viewer, "moving.nii.gz")
    assert "moving.nii.gz (warped)" not in [s["name"] for s in viewer.layers]

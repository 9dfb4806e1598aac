"""The ROI tool's model without a browser: pen strokes arrive as the viewer's "draw"
messages, keys as its "key" messages; every change must reach the page as mask diffs
(a FakeFrontend applies them the way viewer.js does) and equal the kernel's ROI."""

from __future__ import annotations

import base64
import gzip
import re

import nibabel as nib
import numpy as np
import pytest

from nora_lab import imaging as im
from nora_lab.errors import ImagingError, NoraError
from nora_lab.widgets import ROITool, Viewer


@pytest.fixture
def setup(volume, affine, frontend):
    viewer = Viewer()
    viewer.open(volume, affine=affine, name="ramp", window=(1000, 2000))
    page = frontend(viewer)
    page.ready()
    tool = ROITool(viewer)
    return viewer, page, tool


def world(affine, ijk):
    return (affine @ np.r_[np.asarray(ijk, float), 1.0])[:3].tolist()


def stroke(page, affine, voxels, *, buttons=1, axis="axial"):
    pts = [world(affine, v) for v in voxels]
    page.draw(phase="down", buttons=buttons, viewport=0, axis=axis, points=pts[:1])
    for i in range(1, len(pts), 2):
        page.draw(phase="move", buttons=buttons, viewport=0, axis=axis, points=pts[i:i + 2])
    page.draw(phase="up", buttons=buttons, viewport=0, axis=axis, points=[])


def key(viewer, k, ctrl=False, shift=False):
    viewer._on_frontend_msg(viewer, {"type": "key", "key": k, "ctrl": ctrl, "shift": shift}, [])


def page_mask(page, tool, name=None):
    """The mask as the page holds it (every diff applied), in the ROI's index order."""
    e = tool._entries[name or tool.current.name]
    img = page.image(e.layer)
    arr = np.asarray(img.dataobj) != 0
    if not np.allclose(img.affine, e.roi.affine):        # a C-ordered array travels transposed
        arr = arr.T
        assert np.allclose(img.affine[:, [2, 1, 0, 3]], e.roi.affine)
    return arr


def test_a_new_roi_lies_on_the_background_grid_and_is_drawn_into(setup, volume, affine):
    viewer, page, tool = setup
    roi = tool.new("lesion")
    assert roi.shape == volume.shape and np.allclose(roi.affine, affine)
    assert tool.current is roi and tool.names == ["lesion"]
    spec = viewer.layer(viewer.draw_target)
    assert spec.role == "mask" and spec.name == "ROI lesion"
    assert tool.new("lesion").name == "lesion-2"         # names stay unique
    assert tool.current.name == "lesion-2"


def test_a_pen_stroke_is_one_undoable_edit_shown_by_diffs(setup, volume, affine):
    viewer, page, tool = setup
    tool.new("lesion")
    tool.pen_size = 2.0                                   # 2 mm: ±1 voxel along x (2 mm voxels)
    before = len(page.of_type("begin"))
    stroke(page, affine, [(5, 5, 8), (6, 5, 8), (7, 6, 8), (8, 6, 8), (9, 7, 8)])
    roi = tool.current
    expected = im.ROI(np.zeros(volume.shape), affine)
    for v in [(5, 5, 8), (6, 5, 8), (7, 6, 8), (8, 6, 8), (9, 7, 8)]:
        im.brush(expected, v, 2.0, axis=2)
    np.testing.assert_array_equal(roi.data, expected.data)
    assert roi.count > 5 and len(roi.history) == 1          # the whole stroke: one edit
    assert np.unique(np.nonzero(roi.data)[2]).tolist() == [8]  # 2-D: the slice drawn on
    np.testing.assert_array_equal(page_mask(page, tool), roi.data)
    assert len(page.of_type("begin")) == before            # diffs only, no resend
    assert f"data-voxels='{roi.count}'" in tool.status.value
    key(viewer, "z", ctrl=True)                             # ctrl+z in the viewer
    assert roi.count == 0 and not page_mask(page, tool).any()
    key(viewer, "z", ctrl=True, shift=True)                 # shift+ctrl+z
    np.testing.assert_array_equal(roi.data, expected.data)
    np.testing.assert_array_equal(page_mask(page, tool), roi.data)
    key(viewer, "z", ctrl=True)
    key(viewer, "y", ctrl=True)                             # ctrl+y redoes too
    assert roi.count == expected.count


def test_right_button_and_eraser_erase(setup, affine):
    viewer, page, tool = setup
    roi = tool.new("r")
    tool.pen_size = 4.0
    stroke(page, affine, [(10, 10, 8)])
    n = roi.count
    tool.pen_size = 0.0
    stroke(page, affine, [(10, 10, 8), (11, 10, 8)], buttons=2)
    assert roi.count == n - 2 and not roi.data[10, 10, 8]
    tool.pen = "eraser"
    tool.pen_size = 4.0
    stroke(page, affine, [(10, 10, 8)])
    assert roi.count == 0 and len(roi.history) == 3
    np.testing.assert_array_equal(page_mask(page, tool), roi.data)


def test_3d_pen_and_the_slice_orientation(setup, affine):
    viewer, page, tool = setup
    roi = tool.new("r")
    tool.pen_size = 3.0
    stroke(page, affine, [(10, 10, 8)], axis="coronal")    # world y ~ voxel axis 1
    assert np.unique(np.nonzero(roi.data)[1]).tolist() == [10]
    roi2 = tool.new("ball")
    tool.dims.value = "3-D"
    stroke(page, affine, [(10, 10, 8)])
    ref = im.ROI(np.zeros(roi2.shape), affine)
    im.brush(ref, (10, 10, 8), 3.0)
    np.testing.assert_array_equal(roi2.data, ref.data)


def test_threshold_magic_region_grow_and_polygon_pens(setup, volume, affine):
    viewer, page, tool = setup
    roi = tool.new("t")
    tool.pen_size = 6.0
    tool.pen = "threshold-higher"                           # above the window's low limit
    viewer.window = (1000.0, 400.0)                         # low limit 800
    stroke(page, affine, [(8, 10, 5)])
    on = volume[roi.data]
    assert roi.count and (on > 800).all()
    ref = im.ROI(np.zeros(roi.shape), affine)
    im.threshold_pen(ref, (8, 10, 5), 6.0, volume, (800, 1200), axis=2)
    np.testing.assert_array_equal(roi.data, ref.data)

    tool.threshold_box.value = "bogus"
    stroke(page, affine, [(8, 10, 5)])
    assert "threshold must be 'low', 'high' or a number" in tool.status.value

    magic = tool.new("m")
    tool.pen = "magic-connected"
    tool.similarity_slider.value = 0.05                     # ±20 around the centre value
    stroke(page, affine, [(8, 10, 5)])
    ref = im.ROI(np.zeros(roi.shape), affine)
    im.magic_pen(ref, (8, 10, 5), 6.0, volume, (800, 1200), similarity=0.05, connected=True, axis=2)
    np.testing.assert_array_equal(magic.data, ref.data)

    grow = tool.new("g")
    tool.pen = "region-grow"
    stroke(page, affine, [(8, 10, 5), (15, 15, 5)])         # the seed is where the mouse went down
    ref = im.ROI(np.zeros(roi.shape), affine)
    im.region_grow(ref, (8, 10, 5), volume, (800, 1200), 0.05)
    np.testing.assert_array_equal(grow.data, ref.data)
    assert len(grow.history) == 1

    poly = tool.new("p")
    tool.pen = "polygon"
    stroke(page, affine, [(2, 2, 7), (12, 2, 7), (12, 12, 7), (2, 12, 7)])
    assert poly.data[7, 7, 7] and not poly.data[15, 15, 7] and not poly.data[7, 7, 6]
    np.testing.assert_array_equal(page_mask(page, tool, "p"), poly.data)


def test_a_stroke_without_an_roi_makes_one(setup, affine):
    viewer, page, tool = setup
    stroke(page, affine, [(3, 3, 3)])
    assert tool.names == ["roi"] and tool.current.count > 0


def test_operations_statistics_and_set_operations(setup, volume, affine):
    viewer, page, tool = setup
    a = tool.new("a")
    tool.pen_size = 4.0
    stroke(page, affine, [(10, 12, 8)])
    n = a.count
    begins = len(page.of_type("begin"))
    edit = tool.operation("dilate", 1)
    assert edit.label == "dilate" and a.count > n
    np.testing.assert_array_equal(page_mask(page, tool, "a"), a.data)
    assert len(page.of_type("begin")) == begins            # a diff, not the whole mask
    tool.undo()
    assert a.count == n
    b = tool.new("b")
    stroke(page, affine, [(12, 12, 8)])
    tool.operation("union", other="a")
    assert b.count == (a.data | b.data).sum()
    tool.operation("difference", other="a")
    assert not (b.data & a.data).any()
    with pytest.raises(ImagingError, match="needs another ROI"):
        tool.operation("union", other="nope")
    tool.pen_size = 0.0
    stroke(page, affine, [(1, 1, 1)])
    tool.operation("remove_salt", 2)
    assert not b.data[1, 1, 1]
    df = tool.statistics()
    ref = im.roi_statistics([a, b], {"ramp": (volume, affine)})
    assert df[["roi", "contrast", "voxels", "mean", "median"]].equals(
        ref[["roi", "contrast", "voxels", "mean", "median"]])
    tool.show_statistics()
    assert "nora-stats-table" in tool.stats_html.value and ">a<" in tool.stats_html.value


def test_the_list_focus_current_visibility_clear_delete_download(setup, affine):
    viewer, page, tool = setup
    a = tool.new("a")
    tool.pen_size = 0.0
    stroke(page, affine, [(4, 6, 8)])
    tool.new("b")
    cog = tool.focus_roi("a")
    assert viewer.position == pytest.approx(world(affine, (4, 6, 8)))
    assert cog == pytest.approx(world(affine, (4, 6, 8)))
    with pytest.raises(ImagingError, match="empty"):
        tool.focus_roi("b")
    tool.make_current("a")
    assert viewer.draw_target == tool._entries["a"].layer and tool.current is a
    tool.set_visible("a", False)
    assert viewer.layer(tool._entries["a"].layer).visible is False
    tool._entries["a"].visible.value = True                 # the 👁 button
    assert viewer.layer(tool._entries["a"].layer).visible is True
    link = tool.download("a").value
    data = base64.b64decode(re.search(r"base64,([^']+)'", link).group(1))
    img = nib.Nifti1Image.from_bytes(gzip.decompress(data))
    np.testing.assert_array_equal(np.asarray(img.dataobj) != 0, a.data)
    assert "download='a.nii.gz'" in link
    tool.clear("a")
    assert a.count == 0 and not page_mask(page, tool, "a").any()
    tool.undo()
    assert a.count == 1
    layer = tool._entries["b"].layer
    tool.delete("b")
    assert tool.names == ["a"] and layer not in [s["id"] for s in viewer.layers]
    assert tool.current is a


def test_opacity_and_outline_apply_to_every_roi(setup):
    viewer, page, tool = setup
    tool.new("a")
    tool.new("b")
    tool.opacity_slider.value = 0.8
    tool.outline_box.value = True
    masks = [s for s in viewer.layers if s["role"] == "mask"]
    assert [(s["opacity"], s["outline"]) for s in masks] == [(0.8, True), (0.8, True)]


def test_save_writes_the_roi_into_the_study(desk_project, volume, affine, frontend):
    viewer = Viewer()
    viewer.open(desk_project.study_dir("P001#S1") / "3_t1/t1.nii.gz")
    tool = ROITool(viewer, desk_project, "P001#S1")
    saved = []
    tool.on_save(lambda *a: saved.append(a))
    roi = tool.new("lesion")
    im.brush(roi, (10, 10, 8), 4.0)
    assert tool.is_dirty("lesion")
    path = tool.save("lesion")
    assert path == desk_project.study_dir("P001#S1") / "rois/lesion.nii.gz"
    files = desk_project.files(psid="P001#S1", tags=["roi"])
    assert files["relpath"].tolist() == ["rois/lesion.nii.gz"]
    np.testing.assert_array_equal(np.asarray(nib.load(path).dataobj) != 0, roi.data)
    assert not tool.is_dirty("lesion") and saved == [("P001#S1", "rois/lesion.nii.gz")]
    im.dilate(roi)
    tool.save("lesion")                                    # overwrites its earlier version
    np.testing.assert_array_equal(np.asarray(nib.load(path).dataobj) != 0, roi.data)
    assert len(desk_project.files("rois/*", psid="P001#S1")) == 1
    reopened = ROITool(Viewer(), desk_project, "P001#S1").load(path, relpath="rois/lesion.nii.gz")
    np.testing.assert_array_equal(reopened.data, roi.data)


def test_save_without_a_study_says_what_to_do(setup):
    viewer, page, tool = setup
    tool.new("a")
    with pytest.raises(NoraError, match=r"ROITool\(viewer, project, psid\)"):
        tool.save("a")
    tool._guard(lambda: tool.save("a"))                    # the 💾 button shows it
    assert "cannot be saved" in tool.status.value


def test_reset_names_unsaved_rois(setup, affine):
    viewer, page, tool = setup
    tool.new("empty")
    tool.new("drawn")
    stroke(page, affine, [(3, 3, 3)])
    assert tool.reset("P002#S1") == ["drawn"]
    assert tool.names == [] and tool.psid == "P002#S1"
    assert not [s for s in viewer.layers if s["role"] == "mask"]
    with pytest.raises(ImagingError, match="has no ROI"):
        tool.undo()
    key(viewer, "z", ctrl=True)                              # shown, not raised
    assert "has no ROI" in tool.status.value


def test_unknown_pen_and_negative_size(setup):
    viewer, page, tool = setup
    with pytest.raises(ImagingError, match="unknown pen"):
        tool.pen = "spray"
    with pytest.raises(ImagingError, match="radius"):
        tool.pen_size = -1


def test_stroke_draws_from_python_like_the_mouse(setup, volume, affine):
    viewer, page, tool = setup
    roi = tool.new("py")
    tool.pen, tool.pen_size = "brush", 0.0
    edit = tool.stroke([world(affine, (3, 3, 3)), world(affine, (4, 3, 3))])
    assert edit.changed == 2 and roi.count == 2 and len(roi.history) == 1
    tool.pen = "polygon"
    edit = tool.stroke([world(affine, v) for v in [(2, 2, 7), (12, 2, 7), (12, 12, 7), (2, 12, 7)]])
    assert edit.label == "Polygon" and roi.data[7, 7, 7]
    np.testing.assert_array_equal(page_mask(page, tool), roi.data)
    tool.pen = "threshold-higher"
    tool.threshold_box.value = "2000"
    assert tool.stroke([world(affine, (1, 1, 1))]) is None      # nothing above 2000 there
    with pytest.raises(ImagingError, match="threshold must be"):
        tool.threshold_box.value = "x"
        tool.stroke([world(affine, (1, 1, 1))])

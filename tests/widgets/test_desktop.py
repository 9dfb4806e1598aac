"""The desk without a browser: table + viewer + tools wired together over a real archive.
Selecting loads through the autoloader; arrow keys (from the table or the viewer) step
through the studies; double-clicks open files; recipes are saved in the project."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from nora_lab.errors import NotFoundError
from nora_lab.imaging import PointSet, brush
from nora_lab.widgets import Desktop, desktop

from .conftest import DESK_STUDIES


def key(viewer, k, **mods):
    viewer._on_frontend_msg(viewer, {"type": "key", "key": k, **mods}, [])


def names(desk):
    return [(s["name"], s["role"]) for s in desk.viewer.layers]


def test_desktop_is_the_function_and_the_module_stays_light():
    assert callable(desktop) and desktop.__module__ == "nora_lab.widgets.desk"
    code = ("import sys, nora_lab.widgets as w; w.desktop; "
            "assert callable(w.desktop), w.desktop; "
            "assert not [m for m in sys.modules if m.startswith('sqlalchemy')]")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_selecting_a_study_loads_it_and_the_keys_step_through(desk_project):
    desk = desktop(desk_project, page_size=3)
    assert isinstance(desk, Desktop) and desk.psid == "" and desk.viewer.layers == []
    assert {desk.table, desk.viewer, desk.roi_tool, desk.marker_tool} <= set(_all_children(desk))
    desk.table.selected = "P002#S1"                          # a click on the row
    assert desk.psid == "P002#S1" and names(desk) == [("t1.nii.gz", "background")]
    assert "P002#S1: 1 file(s) loaded" in desk.status.value
    assert "study=P002#S1" in desk.state.value
    key(desk.viewer, "ArrowDown")                             # arrow down in the viewer
    assert desk.psid == "P003#S1"
    desk.table._on_frontend_msg(desk.table, {"type": "step", "step": 1}, [])  # ... in the table
    assert desk.psid == "P004#S1" and desk.table.page == 1
    assert desk.previous() == "P003#S1" and desk.psid == "P003#S1" and desk.table.page == 0
    key(desk.viewer, "ArrowUp")
    assert desk.psid == "P002#S1"
    for _ in range(10):
        desk.next()
    assert desk.psid == "P007#S1"
    assert "3_t1/t1.nii.gz: cannot read it" in desk.status.value  # the broken file is named
    desk.select("P006#S1")
    assert desk.viewer.layers == [] and "no match" in desk.status.value


def _all_children(w):
    yield w
    for c in getattr(w, "children", ()):
        yield from _all_children(c)


def test_an_autoloader_applies_to_every_study(desk_project):
    recipe = {"layout": "1x3", "items": [
        {"pattern": "5_flair/*.nii", "role": "background", "colormap": "hot"},
        {"pattern": "3_t1/*.nii", "role": "overlay", "opacity": 0.3}]}
    desk = desktop(desk_project)
    desk.save_recipe(recipe, "flair qc")
    assert desk_project.get_json("autoloader", "flair qc")["items"][0]["colormap"] == "hot"
    assert list(desk.recipe_picker.options) == ["(default: first image)", "flair qc"]
    desk.select("P002#S1")
    desk.recipe_picker.value = "flair qc"                     # picking reloads the study
    assert desk.viewer.view_layout == "1x3"
    assert names(desk) == [("flair.nii.gz", "background"), ("t1.nii.gz", "overlay")]
    desk.next()
    assert desk.psid == "P003#S1" and names(desk) == [("t1.nii.gz", "background")]
    assert "no match for '5_flair/*.nii'" in desk.status.value
    desk.use_autoloader(None)
    assert names(desk) == [("t1.nii.gz", "background")] and desk.recipe is None
    again = desktop(desk_project, autoloader="flair qc", select="P005#S1")
    assert again.recipe.name == "flair qc" and names(again) == [("flair.nii.gz", "background")]


def test_the_recipe_editor_saves_and_reports_errors(desk_project):
    desk = desktop(desk_project)
    desk.recipe_text.value = json.dumps({"items": [{"pattern": "3_t1/*.nii", "window": "brain"}]})
    desk.recipe_name.value = "brain"
    desk.recipe_save.click()
    assert desk.recipe.name == "brain" and "brain" in desk.recipe_picker.options
    assert desk_project.get_json("autoloader", "brain")["items"][0]["window"] == "brain"
    desk.recipe_text.value = "{oops"
    desk.recipe_save.click()
    assert "not valid JSON" in desk.status.value
    desk.recipe_text.value = json.dumps({"items": [{"pattern": "x", "role": "nope"}]})
    desk.recipe_save.click()
    assert "unknown role 'nope'" in desk.status.value
    desk.recipe_name.value = "brain"
    desk.recipe_delete.click()
    assert "brain" not in desk.recipe_picker.options and desk.recipe is None


def test_double_clicked_files_open_where_they_belong(desk_project, volume, affine):
    desk = desktop(desk_project, select="P002#S1")
    table = desk.table
    table._on_frontend_msg(table,
                           {"type": "open", "psid": "P002#S1", "relpath": "5_flair/flair.nii.gz",
                                   "shift": True}, [])
    assert names(desk) == [("t1.nii.gz", "background"), ("flair.nii.gz", "overlay")]
    table._on_frontend_msg(table,
                           {"type": "open", "psid": "P002#S1", "relpath": "5_flair/flair.nii.gz"},
                           [])
    assert names(desk) == [("flair.nii.gz", "overlay"), ("flair.nii.gz", "background")]
    # ROIs and point sets saved by the tools are listed and open into the tools
    roi = desk.roi_tool.new("lesion")
    brush(roi, (10, 10, 8), 4.0)
    desk.roi_tool.save()
    desk.marker_tool.add_point((0.0, 0.0, 22.0), "AC")
    desk.marker_tool.save()
    assert [f["relpath"] for f in table.files][-2:] == ["annotations/pointset.ano.json",
                                                        "rois/lesion.nii.gz"]
    desk.roi_tool.delete("lesion")
    desk.marker_tool.reset("P002#S1")
    table.open_file("rois/lesion.nii.gz")
    table.open_file("annotations/pointset.ano.json")
    assert desk.roi_tool.names == ["lesion"] and desk.roi_tool.current.count == roi.count
    assert desk.marker_tool.current.names == ["AC"]
    table.open_file("3_t1/t1.nii.gz", psid="P007#S1")          # another study's broken file
    assert desk.psid == "P007#S1" and "cannot read" in desk.status.value


def test_a_study_change_names_unsaved_rois_and_reloads_saved_ones(desk_project):
    desk = desktop(desk_project, select="P001#S1")
    roi = desk.roi_tool.new("lesion")
    brush(roi, (10, 10, 8), 4.0)
    desk.roi_tool._update_status()
    assert "roi=lesion=" in desk.state.value
    desk.next()
    assert "closed unsaved ROI(s): lesion" in desk.status.value
    assert desk.roi_tool.names == [] and desk.roi_tool.psid == "P002#S1"
    desk.previous()
    roi = desk.roi_tool.new("kept")
    brush(roi, (5, 5, 5), 2.0)
    desk.roi_tool.save()
    ps = PointSet("marks")
    ps.add([1.0, 2.0, 20.0])
    desk.marker_tool.add_set(ps)
    desk.marker_tool.save()
    desk.next()
    desk.previous()
    assert desk.roi_tool.names == ["kept"] and desk.roi_tool.current.count == roi.count
    assert [s.name for s in desk.marker_tool.sets] == ["marks"]
    assert "closed unsaved" not in desk.status.value
    np.testing.assert_array_equal(desk.roi_tool.current.data, roi.data)


def test_pen_strokes_reach_the_desks_roi(desk_project, frontend, affine):
    desk = desktop(desk_project, select="P001#S1")
    page = frontend(desk.viewer)
    page.ready()
    desk.viewer.drawing = True
    pt = (affine @ [10, 10, 8, 1.0])[:3].tolist()
    for phase, pts in (("down", [pt]), ("move", [pt]), ("up", [])):
        page.draw(phase=phase, buttons=1, viewport=0, axis="axial", points=pts)
    roi = desk.roi_tool.current
    assert roi is not None and roi.name == "roi" and roi.count > 0
    assert f"roi=roi={roi.count}" in desk.state.value
    key(desk.viewer, "z", ctrl=True, shift=False)
    assert roi.count == 0 and "roi=roi=0" in desk.state.value


def test_an_unknown_study_is_named(desk_project):
    desk = desktop(desk_project)
    desk.table.selected = "P999#S1"
    assert "P999#S1" in desk.status.value and desk.psid == ""
    with pytest.raises(NotFoundError, match="P999"):
        desk.load("P999#S1")
    assert DESK_STUDIES[0] in desk.table.psids


def test_any_error_of_a_key_press_reaches_the_status_line(desk_project, monkeypatch, caplog):
    """Not only NoraErrors: a bug's error is shown with its type (and logged), never left
    to the comm callback's hidden log."""
    desk = desktop(desk_project, page_size=3)
    desk.table.selected = DESK_STUDIES[0]

    def broken():
        raise KeyError("spacing")

    monkeypatch.setattr(desk, "next", broken)
    key(desk.viewer, "ArrowDown")
    assert "KeyError: &#x27;spacing&#x27;" in desk.status.value or \
        "KeyError: 'spacing'" in desk.status.value
    assert "a widget action failed" in caplog.text


def test_the_desk_holds_the_batch_gridstats_and_pacs_tools(desk_project):
    import nora_lab

    desk = nora_lab.desktop(desk_project, page_size=3)
    tabs = desk.children[-1]
    titles = [tabs.get_title(i) for i in range(len(tabs.children))]
    assert titles == ["ROI tool", "Marker tool", "Autoloaders", "Batch tool", "Gridstats",
                      "PACS query", "Navigation", "Fibers"]
    assert desk.batch_tool.table is desk.table and desk.gridstats.table is desk.table
    assert not desk.gridstats.live  # polls only while its tab is shown
    tabs.selected_index = 4
    assert desk.gridstats.live
    tabs.selected_index = 0
    assert not desk.gridstats.live
    desk.load("P001#S1")                     # the navigation and fiber tools file there
    assert desk.nav_tool.psid == desk.fiber_tool.psid == "P001#S1"

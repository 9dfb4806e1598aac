"""The notebook widget without a browser: answers, a drawn ROI, points, restart, preview."""

from __future__ import annotations

import numpy as np
import pytest

from nora_lab.reading import Reading
from nora_lab.widgets._events import DrawEvent
from nora_lab.widgets.reading import FormPreview, ReadingWidget

from .conftest import as_user, config


@pytest.fixture
def reading(archive, project):
    cfg = config()
    cfg["form"]["items"] += [{"type": "roi", "name": "lesion_roi"},
                             {"type": "points", "name": "marks"}]
    cfg["tools"]["studytable"] = True
    Reading.create(project, "w", cfg)
    return Reading.open(as_user(archive, "bob"), "w")


def stroke(layer, voxels, buttons=1):
    v = np.asarray(voxels, dtype=np.int64)
    return DrawEvent(phase="move", buttons=buttons, viewport=0, axis="axial",
                     world=v.astype(float), voxels=v, inside=np.ones(len(v), bool),
                     layer=layer, layer_id="x")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_widget_answers_roi_points_and_restart(reading, project):
    w = ReadingWidget(reading, "training")
    assert "0 of 4 done" in w.progress.value and "case 1" in w.case.value
    assert [spec["role"] for spec in w.viewer.layers] == ["background", "mask"]
    w.inputs["lesion"].value = "yes"
    w.inputs["where"].value = ["right"]
    w.inputs["size_mm"].value = "4.5"
    w.pen_radius_mm = 0  # one voxel per point of the stroke
    w._on_draw(stroke("lesion_roi", [[3, 3, 3], [3, 4, 3]]))
    w._on_draw(stroke("lesion_roi", [[3, 4, 3]], buttons=2))  # right button erases
    w.viewer.position = (1.0, 2.0, 3.0)
    w._add_point()
    w.submit()
    assert "1 of 4 done" in w.progress.value and "saved case 1" in w.status.value
    row = reading.results().iloc[0]
    assert row["answer.lesion"] == "yes" and row["answer.where"] == ["right"]
    assert row["answer.size_mm"] == 4.5
    import nibabel as nib

    mask = np.asarray(nib.load(project.study_dir(row.psid) / row["annotation.lesion_roi"]).dataobj)
    assert mask.sum() == 1 and mask[3, 3, 3] == 1
    # the default pen is a 2 mm disc in the slice drawn on (1 mm voxels: 13 voxels, z = 3 only)
    w.pen_radius_mm = 2.0
    w._on_draw(stroke("lesion_roi", [[4, 4, 3]]))
    roi = w._annotations["lesion_roi"]
    assert roi.count == 13 and set(np.argwhere(roi.data)[:, 2]) == {3}
    assert (project.study_dir(row.psid) / row["annotation.marks"]).is_file()
    # the form was reset for the next item; a missing answer is reported, nothing saved
    assert w.inputs["lesion"].value is None
    w.submit()
    assert "must be answered" in w.status.value and "1 of 4 done" in w.progress.value
    w.table_toggle.value = True
    assert w.table.layout.display == "block"
    w.restart()
    assert "0 of 4 done" in w.progress.value and reading.results().empty


def test_form_preview_follows_the_json():
    p = FormPreview({"items": [{"type": "radio", "name": "a", "options": ["x", "y"]}]})
    assert p.form.questions[0].name == "a" and p.error.value == ""
    p.editor.value = '{"items": [{"type": "radio", "name": "a"}]}'
    assert "needs &quot;options&quot;" in p.error.value
    p.editor.value = '{"items": [{"type": "likert", "name": "b", "min": 1, "max": 3}]}'
    assert p.error.value == "" and p.form.items[0].values == [1, 2, 3]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_panel_app_without_a_browser(archive, project):
    from nora_lab.reading.panel_app import ReadingApp, app

    Reading.create(project, "p", config())
    a = ReadingApp(Reading.open(as_user(archive, "bob"), "p"), "training")
    assert a.progress.object == "**0 of 4 done**" and a.image.object  # slices drawn
    a.inputs["lesion"].value = "no"
    a.submit()
    assert a.progress.object == "**1 of 4 done**"
    assert Reading.open(project, "p").results().iloc[0]["answer.lesion"] == "no"
    denied = app(archive, "rs", "p", "training", user="dave")  # no right on the project
    assert "cannot be opened" in denied[0].object and "no project 'rs'" in denied[0].object


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_reading_tool_lists_readings_with_progress(archive, project):
    from nora_lab.widgets.reading import ReadingTool

    Reading.create(project, "t1", config())
    tool = ReadingTool(as_user(archive, "bob"), viewer=False)
    row = tool.rows.children[0]
    assert "training 0/4" in row.children[0].value and "serious 0/16" in row.children[0].value
    # no Results
    assert [b.description for b in row.children[1:]] == ["Training", "Serious", "Info"]
    w = tool.start(Reading.open(as_user(archive, "bob"), "t1"), "training")
    w.inputs["lesion"].value = "yes"
    w.submit()
    tool.refresh()
    assert "training 1/4" in tool.rows.children[0].children[0].value
    admin = ReadingTool(project, viewer=False)
    assert admin.rows.children[0].children[-1].description == "Results"
    admin.rows.children[0].children[-1].click()
    assert type(admin.area.children[0]).__name__ == "Output"  # filled in a kernel only


def test_every_item_type_renders_and_reads_back():
    from nora_lab.reading import Form
    from nora_lab.reading.forms import ITEM_TYPES
    from nora_lab.widgets.reading import form_values, form_widgets

    items = [{"type": t, "name": t,
              **({"options": ["a", "b"]} if t in ("radio", "select", "checkbox") else {})}
             for t in ITEM_TYPES]
    form = Form.from_json(items)
    ws = form_widgets(form)
    assert set(ws) == set(ITEM_TYPES)
    assert ws["slider"].value == 0 and ws["likert"].value is None
    ws["radio"].value, ws["select"].value, ws["checkbox"].value = "b", "a", ["b"]
    ws["likert"].value, ws["slider"].value, ws["number"].value = 4, 42.5, "7"
    assert form.clean(form_values(form, ws)) == {
        "radio": "b", "select": "a", "checkbox": ["b"], "text": None, "number": 7.0,
        "likert": 4, "slider": 42.5}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_reading_editor_saves_checked_configurations(archive, project):
    import json

    from nora_lab.widgets.reading import ReadingEditor

    ed = ReadingEditor(project)
    ed.name.value = "new"
    ed.form.editor.value = json.dumps({"items": [{"type": "radio", "name": "q", "options": ["a"]}]})
    assert ed.save().config.form.items[0].name == "q"  # the template is a valid reading
    cfg = json.loads(ed.config.value)
    cfg["reading"]["mode_serious"]["random"] = "sometimes"
    ed.config.value = json.dumps(cfg)
    assert ed.save() is None and "random &#x27;sometimes&#x27;" in ed.status.value
    again = ReadingEditor(project, "new")  # editing loads what was saved
    assert json.loads(again.config.value)["reading"]["mode_serious"]["random"] == "idhash"
    bob = ReadingEditor(as_user(archive, "bob"), "new")
    assert bob.save() is None and "admin" in bob.status.value


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_reading_tool_shows_why_a_reading_cannot_start(archive, project):
    from nora_lab.widgets.reading import ReadingTool

    Reading.create(project, "tags", config())  # useastag: readers need the editor role
    tool = ReadingTool(as_user(archive, "erin"), viewer=False)
    tool.rows.children[0].children[1].click()  # "Training"
    assert "needs the editor role" in tool.area.children[0].value

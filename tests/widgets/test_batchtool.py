"""BatchTool's model: composing from templates, argument rows that follow the script,
the live FILE preview, saved batches per project, launching on the selection, debug
notebooks — on SQLite and PostgreSQL, through the same messages the page sends."""

from __future__ import annotations

import json

import nbformat
import pytest

from nora_lab.batch import Batch, Job, register_job
from nora_lab.errors import NoraError
from nora_lab.widgets.batchtool import BatchTool, selected_psids


@register_job("widget_test_touch", args={"image": "FILE", "out": "OUT"})
def widget_test_touch(image: str, out: str, factor: float = 2.0, mode: str = "fast") -> None:
    """Copy an image (a test job)."""
    open(out, "w").write(open(image).read())


@pytest.fixture(autouse=True)
def _nora_home(tmp_path, monkeypatch):
    home = tmp_path / "nora_home"
    home.mkdir()
    monkeypatch.setenv("NORA_HOME", str(home))


@pytest.fixture
def project(archive):
    proj = archive.create_project("demo")
    for i in range(3):
        sid = proj.add_subject(f"P{i:03d}")
        psid = proj.add_study(sid, "S1", date=f"2020-01-0{i + 1}", description="MR head")
        if i != 2:  # P002 has no T1: the preview must say so
            proj.add_bytes(b"FAIL" if i == 1 else b"hello", psid, "t1_trio/s001.nii")
    return proj


def page(tool, action, **content):
    """Send what the page sends."""
    tool._on_page(tool, {"action": action, **content}, [])


def test_templates_list_generic_jobs_and_the_registry(project):
    tool = BatchTool(project)
    kinds = {(t["type"], t["job"]) for t in tool.templates}
    assert {("bash", ""), ("python", ""), ("builtin", "widget_test_touch")} <= kinds
    tpl = next(t for t in tool.templates if t["job"] == "widget_test_touch")
    assert tpl["params"]["factor"] == {"kind": "NUMERIC", "many": False, "options": [],
                                       "default": 2.0}
    assert tpl["description"] == "Copy an image (a test job)."


def test_argument_rows_follow_the_script_as_it_is_typed(project):
    tool = BatchTool(project)
    page(tool, "add_job", kind="bash")
    page(tool, "set_script", index=0, script="cp $f1")
    assert tool.jobs[0]["args"] == {"f1": {"kind": "FILE", "value": ""}}
    page(tool, "set_arg", index=0, name="f1", value="t1*/s0*.nii")
    page(tool, "set_script", index=0, script="cp $f1 ${o1}; echo $s1 $n2 $p1 $HOME")
    args = tool.jobs[0]["args"]
    assert list(args) == ["f1", "o1", "p1", "s1", "n2"]
    assert [a["kind"] for a in args.values()] == ["FILE", "OUT", "PATHOUT", "STRING", "NUMERIC"]
    assert args["f1"]["value"] == "t1*/s0*.nii"  # kept while typing
    page(tool, "set_script", index=0, script="cp $f1 $o1")  # rows of removed variables go
    assert list(tool.jobs[0]["args"]) == ["f1", "o1"]
    page(tool, "set_script", index=0, script="cp $f1 $f12")  # a lookalike: said, rows kept
    assert "f12" in tool.error and list(tool.jobs[0]["args"]) == ["f1", "o1"]


def test_builtin_job_rows_and_the_batch_they_make(project):
    tool = BatchTool(project, selection=["P000#S1"])
    tool.add_job("widget_test_touch")
    assert {k: a["kind"] for k, a in tool.jobs[0]["args"].items()} == {
        "image": "FILE", "out": "OUT", "factor": "NUMERIC", "mode": "STRING"}
    with pytest.raises(NoraError, match="image"):
        tool.to_batch()  # a FILE without a pattern says which
    tool.set_arg(0, "image", "t1*/s0*.nii")
    tool.set_arg(0, "out", "derived/copy.nii TAG(copy)")
    tool.set_arg(0, "factor", "3")
    job = tool.to_batch().validate().jobs[0]
    assert job.registered_name == "widget_test_touch"
    assert job.args["out"].tags == ("copy",) and job.args["factor"].value == 3
    with pytest.raises(NoraError, match="no registered job 'nope'"):
        tool.add_job("nope")


def test_preview_shows_files_per_study_and_studies_resolving_to_nothing(project):
    sel = ["P000#S1", "P001#S1", "P002#S1"]
    tool = BatchTool(project, selection=lambda: sel)
    tool.add_job("bash", script="cp $f1 $o1")
    tool.set_arg(0, "f1", "t1*/s0*.nii")
    rows = {r["psid"]: r for r in tool.preview}
    assert rows["P000#S1"]["files"] == {"1:f1": ["t1_trio/s001.nii"]}
    assert rows["P002#S1"]["files"] == {"1:f1": []} and rows["P002#S1"]["missing"] == ["1:f1"]
    assert [r["psid"] for r in tool.preview if not r["missing"]] == ["P000#S1", "P001#S1"]
    tool.add_job("python", script="print(open($f1).read())")
    tool.set_arg(1, "f1", "derived/t1*")  # finds job 1's output once it ran
    rows = {r["psid"]: r for r in tool.preview}
    assert rows["P000#S1"]["files"]["2:f1"] == []  # job 1's o1 has no value yet
    assert rows["P000#S1"]["missing"] == ["2:f1"]
    tool.set_arg(0, "o1", "derived/t1.nii TAG(copy)")
    tool.refresh_preview()
    rows = {r["psid"]: r for r in tool.preview}
    assert rows["P000#S1"]["files"]["2:f1"] == ["← job 1: derived/t1.nii"]
    assert rows["P000#S1"]["missing"] == [] and rows["P002#S1"]["missing"] == ["1:f1"]
    tool.remove_job(1)
    sel.pop()  # the table's selection changed
    page(tool, "refresh")
    assert tool.studies == ["P000#S1", "P001#S1"] and not any(r["missing"] for r in tool.preview)


def test_selection_from_a_table_trait(project):
    import traitlets

    class Table(traitlets.HasTraits):
        selection = traitlets.List()

    table = Table(selection=["P001#S1"])
    tool = BatchTool(project, table=table)
    assert tool.studies == ["P001#S1"]
    table.selection = ["P000#S1", "P002#S1"]  # the tool follows the table
    assert tool.studies == ["P000#S1", "P002#S1"]
    assert selected_psids(None, ["a#b"]) == ["a#b"] and selected_psids() == []


def test_study_table_filters_or_its_selected_study(project):
    from nora_lab.widgets import StudyTable

    table = StudyTable(project, filters={"subject": "P000 P001"})
    tool = BatchTool(project, table=table)
    assert tool.studies == ["P000#S1", "P001#S1"]  # what the table lists
    table.set_filter("subject", "P002")
    assert tool.studies == ["P002#S1"] and tool.preview == [
        {"psid": "P002#S1", "files": {}, "missing": [], "error": ""}]
    tool.scope = "selected"
    assert tool.studies == []
    table.select("P001#S1")
    assert tool.studies == ["P001#S1"]


def test_save_and_load_batches_listed_per_project(project, archive):
    tool = BatchTool(project)
    tool.name = "copy_t1"
    tool.queue = "import"
    tool.add_job("bash", script="cp $f1 $o1")
    tool.set_arg(0, "f1", "t1*/s0*.nii")
    tool.set_arg(0, "o1", "derived/t1.nii TAG(t1copy)")
    page(tool, "save")
    assert tool.saved == ["copy_t1"] and tool.error == ""
    saved = Batch.load(project, "copy_t1")
    assert saved.resources == {"queue": "import"}
    assert saved.jobs[0].to_dict()["args"]["o1"] == {"type": "OUT", "value": "derived/t1.nii",
                                                     "tags": ["t1copy"]}
    other = BatchTool(archive.create_project("other"))
    assert other.saved == []  # listed per project
    fresh = BatchTool(project)
    assert fresh.saved == ["copy_t1"]
    page(fresh, "load", name="copy_t1")
    assert fresh.name == "copy_t1" and fresh.queue == "import"
    assert fresh.jobs[0]["args"]["o1"]["value"] == "derived/t1.nii TAG(t1copy)"
    assert fresh.to_batch().to_dict() == saved.to_dict()
    page(fresh, "load", name="nope")
    assert "no batch named 'nope'" in fresh.error


def test_launch_on_the_selection_then_debug_the_failing_study(project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    launched = []
    tool = BatchTool(project, selection=["P000#S1", "P001#S1"], on_launch=launched.append,
                     launch_options={"n_workers": 1})
    tool.name = "check"
    tool.add_job("bash", script='grep -q hello "$f1" && cp "$f1" "$o1"')
    tool.set_arg(0, "f1", "t1*/s0*.nii")
    tool.set_arg(0, "o1", "derived/t1.nii")
    run = tool.launch(wait=True)
    assert launched == [run]
    assert tool.run_counts == {"total": 2, "d": 1, "e": 1}
    assert tool.run_errors == ["P001#S1"]
    assert "ended" in tool.status
    assert len(project.files("derived/t1.nii")) == 1  # only the study that worked

    page(tool, "debug", psid="P001#S1")
    assert tool.error == ""
    nb = nbformat.read(tool.debug_path, as_version=4)
    assert "P001#S1" in json.dumps(nb.dict())
    assert tool.debug_link == "debug_check_P001_S1.ipynb" and (tmp_path / tool.debug_link).is_file()


def test_launch_errors_are_shown_not_raised_from_the_page(project):
    tool = BatchTool(project)
    tool.add_job("bash", script="true $f1")
    page(tool, "launch")
    assert "argument f1: FILE needs a file pattern" in tool.error
    tool.set_arg(0, "f1", "t1*")
    page(tool, "launch")
    assert "no studies selected" in tool.error
    assert tool.run_id == "" and project.studies({"subject": "JOB:qredk"}).empty


def test_dry_run_shows_resolved_commands(project):
    tool = BatchTool(project, selection=["P000#S1", "P002#S1"])
    tool.add_job("bash", script="cp $f1 $o1")
    tool.set_arg(0, "f1", "t1*/s0*.nii")
    tool.set_arg(0, "o1", "out.nii")
    page(tool, "dry_run")
    assert "=== P000#S1" in tool.status and "t1_trio/s001.nii" in tool.status
    assert "matches no file" in tool.status  # P002#S1


def test_subject_level_preview_and_launch_units(project):
    tool = BatchTool(project, selection=["P000#S1"])
    tool.level = "subject"
    tool.add_job("python", script="print($f1)")
    tool.set_arg(0, "f1", "t1*/s0*.nii")
    assert tool.preview[0]["files"] == {"1:f1": ["t1_trio/s001.nii"]}
    assert tool._units() == ["P000"]
    assert Job.python("print($f1)", f1="x").validate().args["f1"].kind == "FILE"

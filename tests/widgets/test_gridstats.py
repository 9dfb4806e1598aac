"""Gridstats' model: the jobs table filtered and sorted, a job's log and JSON, clicking a job
selects its study, kill, the honest suspend, rerunning the erroneous subgroup, and the
study table's state badges — on SQLite and PostgreSQL, through the page's messages."""

from __future__ import annotations

import json
import time

import pytest

from nora_lab.batch import Batch, Job, launch
from nora_lab.errors import NoraError
from nora_lab.widgets.gridstats import SUSPEND_NOTE, Gridstats, job_state_badges

from .test_batchtool import _nora_home  # noqa: F401 - autouse: never the developer's ~/.nora_lab


@pytest.fixture
def project(archive):
    """P000..P002 with a T1 each; P001's makes ``check`` fail."""
    proj = archive.create_project("demo")
    for i, content in enumerate((b"hello", b"FAIL", b"hello")):
        psid = proj.add_study(proj.add_subject(f"P{i:03d}"), "S1")
        proj.add_bytes(content, psid, "t1_trio/s001.nii")
    return proj


CHECK = Batch("check", [Job.bash('echo "checking $f1"; grep -q hello "$f1"', f1="t1*/s0*.nii")])


@pytest.fixture
def ran(project):
    """Batch ``check`` run on the three studies: P001 fails."""
    CHECK.save(project)
    launch(CHECK, project, n_workers=1, wait=True, progress=False)
    return project


def page(grid, action, **content):
    grid._on_page(grid, {"action": action, **content}, [])


def test_rows_filter_and_sort(ran):
    grid = Gridstats(ran, live=False)
    assert grid.total == 3 and len(grid.rows) == 3
    assert set(grid.rows[0]) >= {"id", "unit", "batch", "run", "state", "user", "error",
                                 "submitted"}
    grid.filters = {**grid.filters, "state": "e"}
    assert [r["unit"] for r in grid.rows] == ["P001#S1"]
    assert "grep" in grid.rows[0]["error"] or "exit" in grid.rows[0]["error"].lower()
    grid.filters = {"user": "ALI", "batch": "chec", "state": "de", "study": "p00"}
    assert len(grid.rows) == 3  # substrings, case-insensitive
    grid.filters = {"user": "bob"}
    assert grid.rows == []
    grid.filters = {}
    grid.sort, grid.descending = "unit", False
    assert [r["unit"] for r in grid.rows] == ["P000#S1", "P001#S1", "P002#S1"]
    grid.descending = True
    assert [r["unit"] for r in grid.rows] == ["P002#S1", "P001#S1", "P000#S1"]
    json.dumps(grid.rows)  # what the page gets is plain JSON
    grid.max_rows = 2
    assert len(grid.rows) == 2 and grid.total == 3


def test_clicking_a_job_shows_its_log_and_json_and_selects_its_study(ran):
    import traitlets

    class Table(traitlets.HasTraits):
        selection = traitlets.List()

    table, picked = Table(), []
    grid = Gridstats(ran, table=table, on_select=picked.append, live=False)
    err = next(r for r in grid.rows if r["state"] == "e")
    page(grid, "select", id=err["id"])
    assert "checking" in grid.log and "s001.nii" in grid.log
    info = json.loads(grid.job_json)
    assert info["id"] == err["id"] and info["state"] == "e" and info["batch"] == "check"
    assert grid.selected_study == "P001#S1" and table.selection == ["P001#S1"]
    assert picked == ["P001#S1"]
    from nora_lab.widgets import StudyTable

    study_table = StudyTable(ran)
    grid = Gridstats(ran, table=study_table, live=False)
    page(grid, "select", id=err["id"])
    assert study_table.selected == "P001#S1"
    page(grid, "select", id=99999)
    assert "no job 99999" in grid.error


def test_kill_a_running_job_and_suspend_is_honest(project):
    slow = Batch("slow", [Job.bash("sleep 60; echo $f1", f1="t1*")])
    run = launch(slow, project, ["P000#S1"], n_workers=1, progress=False)
    grid = Gridstats(project, live=False)
    deadline = time.monotonic() + 60
    while grid.refresh()[0]["state"] != "r":
        assert time.monotonic() < deadline, grid.rows
        time.sleep(0.2)
    job_id = grid.rows[0]["id"]
    page(grid, "suspend", ids=[job_id])
    assert grid.error == SUSPEND_NOTE and grid.rows[0]["state"] == "r"
    with pytest.raises(NoraError, match="kill the job and rerun it"):
        grid.suspend([job_id])
    page(grid, "kill", ids=[job_id])
    assert grid.status == "killed 1 job(s)" and grid.rows[0]["state"] == "k"
    run.wait(60, progress=False)  # the worker stopped the job's processes
    assert run.states()["state"].tolist() == ["k"]


def test_rerun_the_erroneous_subgroup(ran):
    grid = Gridstats(ran, live=False)
    ran.add_bytes(b"hello", "P001#S1", "t1_trio/s001.nii", overwrite=True)  # fixed
    ran_before = {r["unit"]: r["run"] for r in grid.rows}
    run = grid.rerun_errors("check")
    assert [u.key for u in run.units] == ["P001#S1"]  # only the erroneous one
    run.wait(60, progress=False)
    grid.refresh()
    assert {r["unit"]: r["state"] for r in grid.rows} == {"P000#S1": "d", "P001#S1": "d",
                                                          "P002#S1": "d"}
    assert {r["unit"]: r["run"] for r in grid.rows}["P000#S1"] == ran_before["P000#S1"]
    assert ran.studies({"subject": "JOB:e"}).empty
    page(grid, "rerun", batch="check")
    assert "no job in state 'e'" in grid.error


def test_rerun_needs_the_batch(ran):
    grid = Gridstats(ran, live=False)
    ran.put_json("batch", "check", {"name": "check", "jobs": []})  # broken: no jobs
    with pytest.raises(NoraError, match="no jobs"):
        grid.rerun_errors("check")


def test_badges_for_the_study_table(ran):
    assert job_state_badges(ran, ["P000#S1", "P001#S1", "P002#S1"]) == {
        "P000#S1": "d", "P001#S1": "e", "P002#S1": "d"}
    sid = ran.add_subject("P009")
    ran.add_study(sid, "S1")
    assert job_state_badges(ran, ["P009#S1"]) == {}  # no jobs: no badge
    assert job_state_badges(ran, []) == {}


def test_live_refresh(ran):
    grid = Gridstats(ran, interval=0.2)
    try:
        assert grid.live
        sid = ran.add_subject("P010")
        psid = ran.add_study(sid, "S1")
        ran.add_bytes(b"hello", psid, "t1_trio/s001.nii")
        launch(CHECK, ran, [psid], n_workers=1, wait=True, progress=False)
        deadline = time.monotonic() + 20
        while len(grid.rows) < 4:
            assert time.monotonic() < deadline, "the live table never showed the new job"
            time.sleep(0.1)
    finally:
        grid.live = False
        grid.close()

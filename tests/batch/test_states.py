"""Job states in the archive's jobs table: q → r → d/e/k, attempts, kills, reaping."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from batchstudies import make_studies

from nora_lab.archive import job_states as jobs
from nora_lab.errors import BatchError


def test_a_row_goes_from_queued_to_running_to_done(project):
    psids = make_studies(project, 2)
    ids = jobs.create(project, "run1", "b", "study", psids, logs=["/l/0.log", "/l/1.log"])
    assert jobs.table(project)["state"].tolist() == ["q", "q"]
    assert project.studies({"subject": "JOB:q"})["psid"].tolist() == psids
    assert jobs.start(project, ids[0], worker="w1") == ("run", 1)
    assert jobs.finish(project, ids[0], "d", attempt=1)
    assert not jobs.finish(project, ids[0], "e", error="late writer")  # no longer active
    t = jobs.table(project).set_index("unit")
    assert t.loc[psids[0], "state"] == "d" and t.loc[psids[0], "worker"] == "w1"
    assert t.loc[psids[0], "log"] == "/l/0.log" and t.loc[psids[0], "error"] is None
    assert jobs.start(project, ids[0], worker="w2") == ("finished", 1)


def test_a_unit_whose_worker_is_lost_is_retried_once_then_an_error(project):
    (psid,) = make_studies(project, 1)
    (i,) = jobs.create(project, "run1", "b", "study", [psid])
    assert jobs.start(project, i, worker="w1") == ("run", 1)
    jobs.note(project, i, "attempt 1: terminated by SIGTERM")
    assert jobs.start(project, i, worker="w2") == ("run", 2)  # the retry
    assert not jobs.finish(project, i, "d", attempt=1)  # the lost first attempt cannot end it
    assert jobs.start(project, i, worker="w3") == ("exhausted", 2)
    row = jobs.table(project).iloc[0]
    assert row.state == "e" and row.attempts == 2
    assert row.error.startswith(
        "gave up after 2 attempts: the worker was lost each time (last: w2)")


def test_kill_marks_active_rows_and_a_started_row_sees_it(project):
    psids = make_studies(project, 3)
    ids = jobs.create(project, "run1", "b", "study", psids)
    jobs.start(project, ids[0], worker="w")
    assert jobs.kill(project, units=[psids[0], psids[1]]) == 2
    assert jobs.state(project, ids[0]) == "k"
    assert jobs.start(project, ids[1], worker="w") == ("killed", 0)
    assert jobs.kill(project, run="run1") == 1
    with pytest.raises(BatchError, match="say what to kill"):
        jobs.kill(project)


def test_relaunching_supersedes_finished_rows_and_refuses_active_ones(project):
    psids = make_studies(project, 2)
    ids = jobs.create(project, "run1", "b", "study", psids)
    jobs.start(project, ids[0], worker="w")
    jobs.finish(project, ids[0], "e", error="boom")
    with pytest.raises(BatchError, match=r"batch 'b' is still queued or running for P001#S1 "
                                         r"\(queued in run run1\)"):
        jobs.create(project, "run2", "b", "study", psids)
    jobs.create(project, "run2", "b", "study", [psids[0]])
    t = jobs.table(project)
    assert sorted(zip(t["unit"], t["state"], t["run"], strict=True)) == [
        (psids[0], "q", "run2"), (psids[1], "q", "run1")]
    # another batch's rows are left alone
    jobs.create(project, "run3", "other", "study", [psids[0]])
    assert len(jobs.table(project)) == 3


def test_rows_of_a_launcher_that_died_are_reaped(project, archive):
    psids = make_studies(project, 2)
    url = archive.engine.url.render_as_string(hide_password=False)
    code = textwrap.dedent(f"""
        from nora_lab.archive import Archive, jobs
        p = Archive.open({url!r}, root={str(archive.root)!r}, user="alice").project("demo")
        ids = jobs.create(p, "gone", "b", "study", {psids!r})
        jobs.start(p, ids[0], worker="w")
    """)
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ)
    assert set(jobs.table(project)["state"]) == {"q", "r"}
    assert jobs.reap(project) == 2
    t = jobs.table(project)
    assert set(t["state"]) == {"e"}
    assert t["error"].str.contains("ended before the job finished").all()
    jobs.create(project, "mine", "c", "study", psids)  # this process is alive: kept
    assert jobs.reap(project) == 0


def test_subject_level_rows(project):
    make_studies(project, 1)
    (i,) = jobs.create(project, "r", "s", "subject", ["P000"])
    t = jobs.table(project)
    assert t["unit"].tolist() == ["P000"] and t["psid"].tolist() == [""]
    assert jobs.start(project, i, worker="w") == ("run", 1)


def test_study_states_give_the_newest_state_of_each_batch_per_study(project):
    from nora_lab.archive import job_states as jobs

    psids = make_studies(project, 3)
    first = jobs.create(project, "run1", "seg", "study", psids[:2])
    jobs.finish(project, first[0], "e", error="boom")
    jobs.finish(project, first[1], "d")
    (again,) = jobs.create(project, "run2", "seg", "study", psids[:1])
    jobs.create(project, "run3", "stats", "study", psids[:1])
    assert jobs.study_states(project, psids) == {
        psids[0]: {"seg": "q", "stats": "q"},  # the rerun's row is the newest of "seg"
        psids[1]: {"seg": "d"},
    }
    assert jobs.study_states(project, []) == {}


def test_table_filters_orders_and_cuts_in_the_database(project):
    psids = make_studies(project, 4)
    ids = jobs.create(project, "run1", "preproc", "study", psids)
    jobs.create(project, "run2", "stats_100%", "subject", ["P001"])
    jobs.start(project, ids[2], worker="w1")
    jobs.finish(project, ids[2], "e", error="exit 1", attempt=1)
    assert jobs.count(project) == 5
    assert len(jobs.table(project, limit=2)) == 2
    assert jobs.table(project, limit=2)["id"].tolist() == sorted(ids + [max(ids) + 1])[::-1][:2]
    got = jobs.table(project, contains={"unit": "p00"})  # subject-level rows: their subject
    assert sorted(got["unit"]) == ["P000#S1", "P001", "P001#S1", "P002#S1", "P003#S1"]
    assert jobs.table(project, contains={"batch": "100%"})["unit"].tolist() == ["P001"]
    assert jobs.table(project, contains={"batch": "100_"}).empty  # LIKE wildcards escaped
    assert jobs.table(project, contains={"user": "NOBODY"}).empty
    assert sorted(jobs.table(project, studies=["P001#S1"])["unit"]) == ["P001", "P001#S1"]
    assert jobs.table(project, studies=["P000#S1"])["unit"].tolist() == ["P000#S1"]
    by_error = jobs.table(project, order_by="error", descending=False)
    assert by_error["error"].tolist()[0] == "exit 1"  # empty values last either way
    assert jobs.table(project, order_by="error")["error"].tolist()[0] == "exit 1"
    by_unit = jobs.table(project, order_by="unit", descending=False, limit=3)
    assert by_unit["unit"].tolist() == ["P000#S1", "P001", "P001#S1"]
    with pytest.raises(ValueError, match="order_by"):
        jobs.table(project, order_by="command; drop table jobs")
    with pytest.raises(ValueError, match="unknown key"):
        jobs.table(project, contains={"worker": "w"})

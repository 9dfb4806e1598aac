"""`nora --launch/--launchfile/--throwerror/--dryrun/--gridstats/--killjobs/--savebatch`."""

from __future__ import annotations

import json

import pytest
from batchjobs import three_job_batch
from batchstudies import make_studies

from nora_lab.batch import Batch, Job
from nora_lab.cli import main


@pytest.fixture
def nora(url, tmp_path, monkeypatch, capsys):
    """Run `nora ARGS...` on the current backend (as the OS user on SQLite, as the
    archive's administrator role on PostgreSQL); returns (rc, out, err)."""
    monkeypatch.setenv("NORA_DB", url)
    monkeypatch.setenv("NORA_ROOT", str(tmp_path / "data"))
    (tmp_path / "nora_home" / "batch.yaml").write_text("batch:\n  local:\n    n-workers: 1\n")

    def run(*argv):
        rc = main(list(argv))
        out, err = capsys.readouterr()
        return rc, out, err

    return run


@pytest.fixture
def demo(nora):
    from nora_lab.archive import Archive

    assert nora("--createproject", "demo")[0] == 0
    p = Archive.open().project("demo")
    make_studies(p, 3, failing=(2,))
    return p


def test_launch_json_on_a_filter_and_throwerror(nora, demo):
    js = json.dumps(three_job_batch().to_dict())
    rc, out, err = nora("-p", "demo", "--launch", js, "--filter", "subject=P000 P001")
    assert rc == 0, err
    assert "run " in out and "2 done" in out
    rc, out, err = nora("-p", "demo", "--launch", js, "--throwerror")
    assert rc == 1
    assert "P002#S1: job 2 (check) exited with status 1" in out
    assert "did not finish (--throwerror)" in err
    rc, out, _ = nora("-p", "demo", "--gridstats", "e")
    rows = json.loads(out)
    assert [r["unit"] for r in rows] == ["P002#S1"] and rows[0]["state"] == "e"


def test_launchfile_dryrun_and_saved_batches(nora, demo, tmp_path):
    f = tmp_path / "copy.json"
    f.write_text(Batch("copy", [Job.bash("cp $f1 $o1", f1="t1*", o1="c.nii")]).to_json())
    rc, out, _ = nora("-p", "demo", "--launchfile", str(f), "--dryrun", "--study", "P001#S1")
    assert rc == 0 and "=== P001#S1" in out and "P000#S1" not in out
    assert demo.count_studies({"subject": "JOB:qrdek"}) == 0
    assert nora("-p", "demo", "--savebatch", str(f))[0] == 0
    rc, out, _ = nora("-p", "demo", "--launch", "copy", "--study", "P001#S1")
    assert rc == 0 and "1 done" in out
    assert demo.resolve("P001#S1", "c.nii")


def test_cli_errors_are_one_line(nora, demo, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "b", "jobs": [{"type": "bash", "script": "cat $f7"}]}')
    rc, _, err = nora("-p", "demo", "--launchfile", str(bad))
    assert rc == 1 and err.count("\n") == 1 and "the script uses $f7" in err
    rc, _, err = nora("--launch", "{}")
    assert rc == 1 and "--launch needs a project" in err
    rc, _, err = nora("-p", "demo", "--launch", "nosuchbatch")
    assert rc == 1 and "no batch named 'nosuchbatch'" in err


def test_killjobs_by_run_id(nora, demo):
    from nora_lab.archive import job_states as jobs

    jobs.create(demo, "r1", "x", "study", ["P000#S1", "P001#S1"])
    rc, out, _ = nora("-p", "demo", "--killjobs", "r1")
    assert rc == 0 and "killed 2 job(s)" in out
    assert set(jobs.table(demo)["state"]) == {"k"}

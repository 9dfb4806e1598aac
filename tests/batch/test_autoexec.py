"""Auto-execution: a project's named batch runs on every newly imported study."""

from __future__ import annotations

import time

import pytest
from batchstudies import make_studies

from nora_lab.archive import job_states as jobs
from nora_lab.archive.dicom.importer import import_options
from nora_lab.batch import Batch, Job, on_study_imported
from nora_lab.cli import main


@pytest.fixture
def auto(project, tmp_path):
    Batch("auto", [Job.bash("echo $NORA_PSID > $o1", o1="auto/psid.txt TAG(auto)")]).save(project)
    project.autoexec = "auto"
    return project


def _mode(tmp_path, mode):
    (tmp_path / "nora_home" / "batch.yaml").write_text(
        f"batch:\n  autoexec:\n    mode: {mode}\n  local:\n    n-workers: 1\n")


def test_inline_autoexec_runs_the_batch_on_the_new_study(auto, tmp_path):
    _mode(tmp_path, "inline")
    (psid,) = make_studies(auto, 1)
    on_study_imported(auto, psid)
    assert (auto.study_dir(psid) / "auto/psid.txt").read_text().strip() == psid
    assert jobs.table(auto)["state"].tolist() == ["d"]


def test_cli_imports_autoexecute_only_with_autoexec_queue(auto, tmp_path):
    _mode(tmp_path, "inline")
    (psid,) = make_studies(auto, 1)
    token = import_options.set({"autoexec_queue": None, "handle_job_result": False})
    try:
        on_study_imported(auto, psid)
    finally:
        import_options.reset(token)
    assert jobs.table(auto).empty
    token = import_options.set({"autoexec_queue": "DEFAULT", "handle_job_result": False})
    try:
        on_study_imported(auto, psid)
    finally:
        import_options.reset(token)
    assert jobs.table(auto)["state"].tolist() == ["d"]


def test_a_project_without_autoexec_does_nothing(project):
    (psid,) = make_studies(project, 1)
    on_study_imported(project, psid)
    assert jobs.table(project).empty


@pytest.mark.slow
def test_detached_autoexec_drains_the_imported_studies_in_the_background(auto, tmp_path):
    _mode(tmp_path, "detached")
    psids = make_studies(auto, 3)
    for psid in psids:
        on_study_imported(auto, psid)  # returns at once
    end = time.monotonic() + 180
    while time.monotonic() < end:
        t = jobs.table(auto)
        if len(t) == 3 and set(t["state"]) == {"d"}:
            break
        time.sleep(0.5)
    else:
        from nora_lab.batch.autoexec import spool_folder

        log = spool_folder(auto) / "drainer.log"
        raise AssertionError(f"autoexec did not finish: {jobs.table(auto)[['unit', 'state']]}\n"
                             f"{log.read_text() if log.exists() else ''}")
    assert all((auto.study_dir(p) / "auto/psid.txt").exists() for p in psids)


def test_launch_autoexec_from_the_cli(auto, archive, url, tmp_path, monkeypatch, capsys):
    _mode(tmp_path, "inline")
    psids = make_studies(auto, 2)
    monkeypatch.setenv("NORA_DB", url)
    assert main(["-p", "demo", "--launch_autoexec", *psids]) == 0
    assert "2 done" in capsys.readouterr().out
    assert main(["--launch_autoexec", psids[0]]) == 1
    assert "--launch_autoexec needs a project" in capsys.readouterr().err


def test_a_real_dicom_import_autoexecutes_through_the_importer_hook(auto, tmp_path, dicom_dir):
    from nora_lab.archive.dicom import import_dicom, importer

    _mode(tmp_path, "inline")
    Batch("auto", [Job.bash("ls $f1 > $o1", f1="*.nii", o1="auto/niftis.txt TAG(auto)")]).save(auto)
    # the hook comes from the entry-point group nora_lab.study_imported: nothing to register
    assert on_study_imported in importer._hooks_to_call()
    report = import_dicom(auto, dicom_dir / "dcm_qa_nih" / "In" / "20180918Si",
                          progress=False)
    assert report.studies == ["DEV#1"] and not report.warnings, report.warnings
    assert jobs.table(auto)[["unit", "state"]].values.tolist() == [["DEV#1", "d"]]
    listed = (auto.study_dir("DEV#1") / "auto/niftis.txt").read_text().split()
    assert len(listed) >= 3 and all(p.endswith((".nii", ".nii.gz")) for p in listed)

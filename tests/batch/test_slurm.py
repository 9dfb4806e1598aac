"""A real single-node Slurm: workers are Slurm jobs; a cancelled worker's study is retried.

(The three-job contract also runs here: ``test_backends.py`` with the ``slurm`` param.)
"""

from __future__ import annotations

import subprocess

import pytest
from batchstudies import make_studies, wait_until

from nora_lab.batch import Batch, Job, dry_run, launch


def _nap_with_a_worker_cancelled(project, slurm, tmp_path, *, attempts: int):
    """Run a sleeping batch on Slurm and scancel the worker of a running study; returns
    (the run, ended; the cancelled study; its Slurm job id)."""
    b = Batch("sleepy", [Job.bash("sleep 4; echo done > $o1", name="nap", o1="derived/nap.txt")])
    run = launch(b, project, max_attempts=attempts, **slurm.options(tmp_path, maximum_jobs=2))
    try:
        wait_until(lambda: (run.states()["state"] == "r").sum() >= 1, 180, "a study running")
        victim = run.states().query("state == 'r'").iloc[0]
        slurm_job = victim.worker.split("slurm:")[1]
        assert any(line.split()[0] == slurm_job for line in slurm.squeue())
        subprocess.run(["scancel", slurm_job], check=True,
                       env={**slurm.env, "PATH": "/usr/bin:/bin"})
        run.wait(timeout=300, progress=False)
    finally:
        if not run.done:
            run.kill()
            run.wait(timeout=120, progress=False)
    return run, victim.unit, slurm_job


@pytest.mark.slurm
def test_scancel_of_a_worker_mid_batch_retries_its_study(project, slurm, tmp_path):
    """Attempts to spare (3): the study of a cancelled worker is done on another one."""
    psids = make_studies(project, 8)
    run, victim, slurm_job = _nap_with_a_worker_cancelled(project, slurm, tmp_path, attempts=3)
    st = run.states().set_index("unit")
    assert (st["state"] == "d").all(), st[["state", "error", "attempts"]]
    assert st.loc[victim, "attempts"] >= 2 and f"slurm:{slurm_job}" not in st.loc[victim, "worker"]
    assert all((project.study_dir(p) / "derived/nap.txt").exists() for p in psids)
    # the run's cluster is closed: no worker job is left running in Slurm
    wait_until(lambda: not [j for j in slurm.squeue() if " RUNNING " in f" {j} "], 60,
               "the worker jobs to end")


@pytest.mark.slurm
def test_a_study_whose_only_attempt_is_lost_is_an_error_that_says_so(project, slurm, tmp_path):
    """No attempt to spare (1): the cancelled worker's study ends in error, naming why."""
    make_studies(project, 2)
    run, victim, _ = _nap_with_a_worker_cancelled(project, slurm, tmp_path, attempts=1)
    v = run.states().set_index("unit").loc[victim]
    assert v.state == "e" and v.attempts == 1, v
    assert "lost" in v.error or "SIGTERM" in v.error or "worker" in v.error, v.error


@pytest.mark.slurm
def test_dry_run_shows_the_slurm_job_script_and_commands(project, slurm, tmp_path):
    make_studies(project, 2)
    b = Batch("dry", [Job.bash("cp $f1 $o1", f1="t1*", o1="o.nii")],
              resources={"queue": "import", "walltime": "00:05:00", "memory": "3GB"})
    dr = dry_run(b, project, **slurm.options(tmp_path))
    assert "#SBATCH -p import" in dr.job_script and "#SBATCH -t 00:05:00" in dr.job_script
    assert "distributed.cli.dask_worker" in dr.job_script
    text = str(dr)
    assert "=== P000#S1" in text and f"f1={project.study_dir('P000#S1')}/t1_trio/s001.nii" in text
    assert project.count_studies({"subject": "JOB:qrdek"}) == 0  # nothing queued


def test_dry_run_of_an_sge_batch_renders_its_job_script(project):
    make_studies(project, 1)
    b = Batch("dry", [Job.bash("true")], resources={"queue": "processing", "cores": 2})
    dr = dry_run(b, project, backend="sge", memory="4GB")
    assert "#$ -q proc" in dr.job_script and "--nthreads 2" in dr.job_script
    assert dr.cluster_kwargs["memory"] == "4GB"

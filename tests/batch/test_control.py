"""Running batches: kills, lost workers, retries, subject-level references, `nora` in jobs."""

from __future__ import annotations

import os
from pathlib import Path

from batchstudies import make_studies, wait_until

from nora_lab.batch import Arg, Batch, Job, dry_run, launch


def test_killing_a_batch_stops_its_processes_and_marks_every_job(project, local_cluster, tmp_path):
    make_studies(project, 3)
    pids = tmp_path / "pids"
    pids.mkdir()
    b = Batch("long", [Job.bash(f"echo $$ > {pids}/$(basename $PWD)-$(basename $(dirname $PWD)); "
                                "sleep 120")])
    run = launch(b, project, cluster=local_cluster, poll_interval=0.2)
    wait_until(lambda: len(list(pids.iterdir())) == 2, what="two jobs running")
    assert run.kill() == 3
    run.wait(timeout=60, progress=False)
    st = run.states()
    assert set(st["state"]) == {"k"}
    assert st["error"].str.startswith("killed by alice").all()
    for f in pids.iterdir():  # the job's processes are gone
        pid = int(f.read_text())
        wait_until(lambda pid=pid: not Path(f"/proc/{pid}").exists() or
               Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z", 15, f"pid {pid} gone")
    assert "killed during job 1" in "".join(run.log(u)
                                            for u in run.logs if Path(run.logs[u]).exists())


def test_a_job_terminated_from_outside_is_retried_once_then_an_error(project, local_cluster):
    (psid,) = make_studies(project, 1)
    b = Batch("selfterm", [Job.bash("echo attempt; kill -TERM $$", name="victim")])
    run = launch(b, project, cluster=local_cluster, wait=True, progress=False)
    row = run.states().iloc[0]
    assert row.state == "e" and row.attempts == 2
    assert row.error.startswith("retried, then: attempt 2 on ")
    assert "job 1 (victim) was terminated by SIGTERM" in row.error
    assert run.log(psid).count("# nora_lab batch 'selfterm'") == 2  # both attempts, one log


def test_a_lost_local_worker_is_replaced_and_its_study_retried(project):
    psids = make_studies(project, 2)
    b = Batch("slow", [Job.bash("sleep 3; echo ok > $o1", o1="ok.txt")])
    run = launch(b, project, n_workers=2, processes=True)
    wait_until(lambda: (run.states()["state"] == "r").sum() == 2, what="both running")
    victim = run.states().iloc[0]
    wpids = run.client.run(os.getpid)
    name = victim.worker.split()[1]
    addr = next(a for a, info in run.client.scheduler_info()["workers"].items()
                if str(info["name"]) == name)
    os.kill(wpids[addr], 9)  # the worker process dies; its nanny starts another
    run.wait(timeout=120, progress=False)
    st = run.states().set_index("unit")
    assert set(st["state"]) == {"d"}, st[["state", "error"]]
    assert st.loc[victim.unit, "attempts"] == 2
    assert all((project.study_dir(p) / "ok.txt").exists() for p in psids)


def test_subject_level_batches_pick_studies_by_reference(project, local_cluster):
    for s in ("A", "B"):
        sid = project.add_subject(s)
        ct = project.add_study(sid, "ct1", date="2021-01-01", description="CT head")
        mr1 = project.add_study(sid, "mr1", date="2020-01-01", description="MR head")
        mr2 = project.add_study(sid, "mr2", date="2022-01-01", description="MR head")
        project.add_bytes(b"ct", ct, "ct/s1.nii")
        project.add_bytes(b"mr-early", mr1, "t1/s1.nii")
        project.add_bytes(b"mr-late", mr2, "t1/s1.nii")
        project.tag_study(ct, ["electrodes"])
    b = Batch("coreg", level="subject", jobs=[Job.bash(
        "cat $f1 $f2 > $o1", name="coreg",
        f1=Arg.file("ct/*", study="STAG:electrodes"),
        f2=Arg.file("t1/*", study="last SDESC:MR"),
        o1=Arg.out("coreg/ct_in_mr.txt", study="last SDESC:MR", tags=("coreg",)))])
    dr = dry_run(b, project)
    assert dr.units == ["A", "B"] and dr.errors.empty
    run = launch(b, project, cluster=local_cluster, wait=True, progress=False)
    assert run.counts() == {"d": 2}
    out = project.study_dir("A#mr2") / "coreg/ct_in_mr.txt"
    assert out.read_text() == "ctmr-late"
    assert project.files("coreg/*")["tags"].tolist() == [["coreg"], ["coreg"]]
    assert Path(run.logs["A"]).name == "_subject.log"


def test_jobs_tag_their_outputs_with_the_nora_command(project, local_cluster):
    (psid,) = make_studies(project, 1)
    b = Batch("tagging", [Job.bash("echo hi > $o1\nnora -p demo -a $o1 --addtag viacli\n"
                                   "nora -p demo -o extra.txt", o1="derived/hi.txt TAG(mine)")])
    run = launch(b, project, cluster=local_cluster, wait=True, progress=False)
    assert run.counts() == {"d": 1}, run.log(psid)
    assert sorted(project.files("derived/hi*")["tags"].iloc[0]) == ["mine", "viacli"]
    assert str(project.study_dir(psid) / "extra.txt") in run.log(psid)  # $NORA_PSID is set


def test_pathout_folders_are_registered_with_their_tags(project, local_cluster):
    (psid,) = make_studies(project, 1)
    b = Batch("many", [Job.builtin("write_many", outdir="results/many TAG(many)", mode="exact",
                                   flag=True, count=3)])
    run = launch(b, project, cluster=local_cluster, wait=True, progress=False)
    assert run.counts() == {"d": 1}, run.errors()
    files = project.files("results/many/*")
    assert files["name"].tolist() == ["exact0.txt", "exact1.txt", "exact2.txt"]
    assert files["tags"].tolist() == [["many"]] * 3
    assert (project.study_dir(psid) / "results/many/exact0.txt").read_text() == "True"


def test_a_study_that_kills_its_worker_twice_is_an_error_with_the_reason(project):
    psids = make_studies(project, 2)
    b = Batch("crash", [Job.bash('if [ "$NORA_PSID" = P001#S1 ]; then kill -9 $PPID; fi; '
                                 "echo ok > $o1", name="crash", o1="ok.txt")])
    run = launch(b, project, n_workers=1, processes=True, wait=True, progress=False)
    st = run.states().set_index("unit")
    assert st.loc[psids[0], "state"] == "d"
    bad = st.loc[psids[1]]
    assert bad.state == "e" and bad.attempts == 2
    assert "the worker running it was lost 2 times (KilledWorker" in bad.error

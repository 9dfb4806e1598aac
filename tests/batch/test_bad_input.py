"""Bad input: a clear error naming the study, the job and the problem; the other studies run;
nothing is queued for a batch that cannot run at all."""

from __future__ import annotations

import pytest
from batchstudies import make_studies

from nora_lab.batch import Arg, Batch, Job, launch
from nora_lab.errors import BatchError, NotFoundError


def _run(project, batch, cluster, **kw):
    return launch(batch, project, cluster=cluster, wait=True, progress=False, **kw)


def _jobs(project):
    from nora_lab.archive import job_states as jobs

    return jobs.table(project)


def test_a_pattern_matching_nothing_fails_only_those_studies(project, local_cluster):
    psids = make_studies(project, 4)
    for psid in psids[1:3]:
        project.remove_file(psid, "t1_trio/s001.nii")
    b = Batch("copy", [Job.bash("cp $f1 $o1", name="copy", f1="t1*/s0*.nii", o1="out/c.nii")])
    run = _run(project, b, local_cluster)
    st = run.states().set_index("unit")
    assert st.loc[[psids[0], psids[3]], "state"].tolist() == ["d", "d"]
    for psid in psids[1:3]:
        assert st.loc[psid, "state"] == "e"
        assert st.loc[psid, "error"] == (f"job 1 (copy): FILE f1 't1*/s0*.nii': the pattern "
                                         f"matches no file in study {psid}")
        assert "the pattern matches no file" in run.log(psid)
    assert len(project.files("out/*")) == 2


def test_a_non_zero_exit_stops_the_study_and_names_the_status(project, local_cluster):
    psids = make_studies(project, 2)
    b = Batch("exit", [Job.bash("echo about to fail; exit 5", name="fail"),
                       Job.bash("echo never > $o1", o1="never.txt")])
    run = _run(project, b, local_cluster)
    st = run.states().set_index("unit")
    assert set(st["state"]) == {"e"}
    assert st.loc[psids[0], "error"].startswith("job 1 (fail) exited with status 5 (see the log ")
    assert "about to fail" in run.log(psids[0]) and not project.resolve(psids[0], "never*")


def test_a_python_exception_is_in_the_log(project, local_cluster):
    psids = make_studies(project, 1)
    b = Batch("py", [Job.python("raise ValueError('no brain found in ' + $f1)", f1="t1*")])
    run = _run(project, b, local_cluster)
    assert run.states()["state"].tolist() == ["e"]
    assert "ValueError: no brain found in" in run.log(psids[0])


def test_a_declared_out_that_is_missing_afterwards_is_an_error(project, local_cluster):
    psids = make_studies(project, 1)
    b = Batch("lazy", [Job.bash("echo forgot to write $o1", name="lazy", o1="derived/x.nii")])
    run = _run(project, b, local_cluster)
    err = run.states()["error"].iloc[0]
    assert err == (f"job 1 (lazy): declared output o1 = "
                   f"{project.study_dir(psids[0]) / 'derived/x.nii'} was not written")


def test_an_out_that_escapes_through_a_link_fails_that_study(project, local_cluster, tmp_path):
    psids = make_studies(project, 2)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (project.study_dir(psids[1]) / "derived").symlink_to(outside)
    b = Batch("esc", [Job.bash("echo x > $o1", name="w", o1="derived/x.txt")])
    run = _run(project, b, local_cluster)
    st = run.states().set_index("unit")
    assert st.loc[psids[0], "state"] == "d"
    assert st.loc[psids[1], "state"] == "e" and "outside" in st.loc[psids[1], "error"]
    assert not list(outside.iterdir())


@pytest.mark.parametrize("job, msg", [
    (Job.bash("cp $f1 $o1", f1="t1*", o1="../../../etc/x"), "contains '..'"),
    (Job.bash("cp $f1 $x1", f1="t1*"), "unknown variable 'x1'"),
    (Job.bash("cp $f1 $o1", f1="t1*"), r"uses \$o1 but the job gives no value"),
    (Job.builtin("report_size", src="t1*"), "needs argument 'dst'"),
])
def test_a_malformed_batch_queues_nothing(project, job, msg):
    make_studies(project, 2)
    with pytest.raises(BatchError, match=msg):
        launch(Batch("bad", [job]), project)
    assert _jobs(project).empty


def test_unknown_studies_and_empty_selections(project):
    make_studies(project, 1)
    b = Batch("b", [Job.bash("true")])
    with pytest.raises(NotFoundError, match="no studies 'P999#S1'"):
        launch(b, project, ["P999#S1"])
    with pytest.raises(BatchError, match="no studies selected"):
        launch(b, project, filters={"subject": "nobody"})
    assert _jobs(project).empty


def test_a_single_file_argument_matching_several_files_is_an_error(project, local_cluster):
    psids = make_studies(project, 1)
    project.add_bytes(b"x", psids[0], "t1_trio/s002.nii")
    b = Batch("one", [Job.builtin("report_size", name="size",
                                  src="t1_trio/s00*", dst="size.json")])
    run = _run(project, b, local_cluster)
    assert "matches 2 files in study P000#S1 (s001.nii, s002.nii); this job takes one" in \
        run.states()["error"].iloc[0]


def test_a_study_reference_that_picks_several_studies_cannot_take_an_out(project, local_cluster):
    sid = project.add_subject("S")
    for st in ("A", "B"):
        project.add_study(sid, st, description="MR")
    b = Batch("subj", [Job.bash("echo > $o1", o1=Arg.out("x.txt", study="SDESC:MR"))],
              level="subject")
    run = _run(project, b, local_cluster)
    assert "picks 2 studies (S#A, S#B); an output goes into one: start it with 'first' or 'last'" \
        in run.states()["error"].iloc[0]


def test_a_dry_run_names_the_studies_that_resolve_to_nothing(project):
    from nora_lab.batch import dry_run

    psids = make_studies(project, 3)
    project.remove_file(psids[1], "t1_trio/s001.nii")
    b = Batch("copy", [Job.bash("cp $f1 $o1", name="copy", f1="t1*/s0*.nii", o1="out/c.nii")])
    text = str(dry_run(b, project))
    assert "ERROR" in text and psids[1] in text
    assert text.count("cp ") == 2  # the two studies that resolve show their commands

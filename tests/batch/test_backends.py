"""One contract, every backend: a three-job batch over 20 studies, one of them failing.

The same test runs on a LocalCluster and on a real single-node Slurm (dask-jobqueue's
SLURMCluster), each on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from batchjobs import three_job_batch
from batchstudies import make_studies

from nora_lab.batch import launch

FAILING = 7


@pytest.fixture(params=["local", pytest.param("slurm", marks=pytest.mark.slurm)])
def backend_options(request, tmp_path):
    """launch() keywords for each backend."""
    if request.param == "local":
        return {"backend": "local", "n_workers": 2}
    return request.getfixturevalue("slurm").options(tmp_path)


@pytest.mark.slow
def test_three_job_batch_over_20_studies_one_failing(project, backend_options):
    psids = make_studies(project, 20, failing=(FAILING,))
    bad = psids[FAILING]
    run = launch(three_job_batch(), project, wait=True, progress=False, **backend_options)

    # states: 19 done, the failing study in error naming the job and the reason
    st = run.states().set_index("unit")
    assert len(st) == 20 and run.done
    assert (st.drop(index=bad)["state"] == "d").all()
    assert st.loc[bad, "state"] == "e"
    assert "job 2 (check) exited with status 1" in st.loc[bad, "error"]
    assert not set(st["state"]) & {"q", "r"}
    assert (st["attempts"] == 1).all() and st["started"].notna().all() and st["ended"].notna().all()
    assert st["worker"].notna().all()
    assert run.counts() == {"d": 19, "e": 1}

    # logs: one per study, holding every job's output; the failing one says why
    assert "bad input in" in run.log(bad) and "exit 1" in run.log(bad)
    good = psids[0]
    log = Path(st.loc[good, "log"]).read_text()
    assert "copied" in log and "sizing" in log and "done" in log.splitlines()[-1]
    assert "cp $f1 $o1" in st.loc[good, "command"] and "report_size(" in st.loc[good, "command"]

    # outputs: on disk, registered, tagged; none of the failing study's later jobs ran
    files = project.files("derived/*")
    tags = {(r.psid, r.relpath): set(r.tags) for r in files.itertuples()}
    assert tags[(good, "derived/t1copy.nii")] == {"copied"}
    assert tags[(good, "derived/summary.json")] == {"summary"}
    assert tags[(good, "derived/size.json")] == {"sized", "final"}
    size = json.loads((project.study_dir(good) / "derived/size.json").read_text())
    assert size == {"bytes": 0.5 * len(json.dumps({"chars": 2 * len(b"hello")}))}
    assert (bad, "derived/summary.json") not in tags and (bad, "derived/size.json") not in tags
    assert len(files) == 19 * 3 + 1

    # the filter bars see the job states: rerun the erroneous subgroup after fixing it
    assert project.studies({"subject": "JOB:e"})["psid"].tolist() == [bad]
    project.add_bytes(b"fixed", bad, "t1_trio/s001.nii", overwrite=True)
    rerun = launch(three_job_batch(), project, filters={"subject": "JOB:e"}, wait=True,
                   progress=False, **backend_options)
    assert [u.key for u in rerun.units] == [bad]
    assert rerun.counts() == {"d": 1}
    assert project.count_studies({"subject": "JOB:e"}) == 0
    assert project.count_studies({"subject": "JOB:d"}) == 20
    assert len(project.files("derived/*")) == 20 * 3

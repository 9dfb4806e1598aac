"""Built-in processing jobs on the real single-node Slurm (dask-jobqueue workers)."""

from __future__ import annotations

import pytest
import test_catalogue_data as data
from test_catalogue_data import add_t1_studies

from nora_lab.batch import Batch, Job, launch
from nora_lab.batch.catalogue import cohort_table, provenance

cat_project = data.cat_project  # fixture


@pytest.mark.slurm
def test_n4_and_roi_statistics_run_on_slurm(cat_project, slurm, tmp_path):
    psids = add_t1_studies(cat_project, tmp_path, 2)
    b = Batch("slurm_n4", [
        Job.builtin("n4", image="t1/t1.nii.gz", iterations="10,10"),
        Job.builtin("roi_stats", rois="rois/*", images="derived/n4*"),
    ])
    run = launch(b, cat_project, wait=True, progress=False, **slurm.options(tmp_path))
    st = run.states()
    assert set(st["state"]) == {"d"}, st["error"].tolist()
    assert all("slurm:" in w for w in st["worker"])
    df = cohort_table(run)
    assert len(df) == 2 * 2 and set(df["psid"]) == set(psids)
    prov = provenance(cat_project, cat_project.study_dir(psids[0]) / "derived/n4.nii.gz")
    assert prov["job"] == "n4" and prov["library"] == "SimpleITK" and prov["run"] == run.id

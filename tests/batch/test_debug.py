"""Debugging a study in a notebook, and notebook jobs run with papermill."""

from __future__ import annotations

import json

import nbformat
import pytest
from batchjobs import three_job_batch
from batchstudies import make_studies
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from nora_lab.batch import Batch, Job, debug, launch


def _params(nb):
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    return cell.source


def test_the_debug_notebook_resolves_every_variable(project, tmp_path):
    psids = make_studies(project, 2)
    path = debug(three_job_batch(), project, psids[1], path=tmp_path / "dbg.ipynb")
    nb = nbformat.read(path, as_version=4)
    src = _params(nb)
    d = project.study_dir(psids[1])
    assert f"job1_f1 = '{d}/t1_trio/s001.nii'" in src
    assert f"job2_f1 = '{d}/derived/t1copy.nii'" in src  # an earlier job's declared output
    assert "job2_n1 = 2" in src and f"job3_dst = '{d}/derived/size.json'" in src
    code = "\n".join(c.source for c in nb.cells)
    assert "%%bash\ncp $f1 $o1" in code and "from batchjobs import report_size" in code
    assert "os.environ.update({'NORA_ROOT'" in code and f"'NORA_PSID': '{psids[1]}'" in code


def test_a_debug_notebook_runs_the_jobs_of_the_study(project, tmp_path):
    (psid,) = make_studies(project, 1)
    path = debug(three_job_batch(), project, psid, path=tmp_path / "dbg.ipynb")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    out = project.study_dir(psid) / "derived"
    assert json.loads((out / "size.json").read_text())["bytes"] > 0
    assert "written" in str([c.outputs for c in nb.cells if c.cell_type == "code"])


def test_the_failing_study_shows_why_in_the_parameters(project, tmp_path):
    psids = make_studies(project, 2)
    project.remove_file(psids[1], "t1_trio/s001.nii")
    path = debug(Batch("c", [Job.bash("cp $f1 $o1", f1="t1*/s0*.nii", o1="c.nii")]),
                 project, psids[1], path=tmp_path / "d.ipynb")
    src = _params(nbformat.read(path, as_version=4))
    assert f"# ERROR: job 1 (bash:cp): FILE f1 't1*/s0*.nii': the pattern matches no file in " \
           f"study {psids[1]}" in src
    assert "f1 = None" in src


def test_a_saved_batch_debugs_by_name_next_to_the_log(project):
    (psid,) = make_studies(project, 1)
    three_job_batch("saved").save(project)
    path = debug("saved", project, psid)
    assert path.name == "S1.debug.ipynb" and path.parent.name == "P000"
    assert path.parent.parent.name == "saved"


@pytest.mark.notebook
def test_notebook_jobs_run_with_papermill_per_study(project, tmp_path, local_cluster):
    psids = make_studies(project, 2)
    nb = new_notebook()
    params = new_code_cell("f1 = None\no1 = None\nscale = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, new_code_cell(
        "import os\nn = os.path.getsize(f1) * scale\nopen(o1, 'w').write(str(n))\n"
        "print('size', n)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = tmp_path / "size.ipynb"
    nbformat.write(nb, path)
    b = Batch("nbjob", [Job.notebook(path, f1="t1*/s0*.nii", o1="nb/size.txt TAG(nb)", scale=3)])
    run = launch(b, project, cluster=local_cluster, wait=True, progress=False)
    assert run.counts() == {"d": 2}, run.errors()
    assert (project.study_dir(psids[1]) / "nb/size.txt").read_text() == str(3 * 2 * len(b"hello"))
    executed = nbformat.read(str(run.logs[psids[0]]).replace(".log", ".1.ipynb"), as_version=4)
    assert "size 15" in str(executed.cells[-1].outputs)
    assert project.files("nb/*")["tags"].tolist() == [["nb"], ["nb"]]


def test_a_run_debugs_its_failing_study(project, local_cluster, tmp_path):
    psids = make_studies(project, 2, failing=(1,))
    run = launch(three_job_batch(), project, cluster=local_cluster, wait=True, progress=False)
    path = debug(run, psids[1], path=tmp_path / "failing.ipynb")
    assert "job2_f1 = " in _params(nbformat.read(path, as_version=4))
    assert run.debug(psids[0]).name == "S1.debug.ipynb"

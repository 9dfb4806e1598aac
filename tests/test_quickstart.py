"""`make lab`'s path: the demo archive is built through the import, and the quickstart runs."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from nora_lab.archive import Archive
from nora_lab.demo import main as build_demo

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo-home")
    assert build_demo([str(home)]) == 0
    return home


def test_demo_archive_holds_the_imported_series(demo_home):
    proj = Archive.open(demo_home).project("demo")
    assert len(proj.studies()) == 4
    assert any("MPRAGE" in r for r in proj.files("*.nii")["relpath"])


def test_building_the_demo_again_adds_nothing(demo_home):
    before = Archive.open(demo_home).project("demo").files()
    assert build_demo([str(demo_home)]) == 0
    assert Archive.open(demo_home).project("demo").files()["path"].tolist() == before["path"].tolist()


@pytest.mark.notebook
def test_quickstart_notebook_runs_on_the_demo_archive(demo_home, monkeypatch):
    monkeypatch.setenv("NORA_HOME", str(demo_home))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert "crosshair at" in str(outputs)

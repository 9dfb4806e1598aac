"""`make lab`'s path: the demo archive is built through the import, and the quickstart runs."""

import pytest

from nora_lab.archive import Archive
from nora_lab.demo import main as build_demo
from nora_lab.testing.notebooks import run_notebook


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
    assert "crosshair at" in run_notebook("quickstart.ipynb")

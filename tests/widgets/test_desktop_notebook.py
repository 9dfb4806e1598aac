"""notebooks/desktop.ipynb executes headless (nbclient) on a fresh demo archive, as
`make lab` builds it: every piece of the desk alone, then the desk."""

from __future__ import annotations

import pytest

from nora_lab.testing.notebooks import run_notebook


@pytest.mark.notebook
@pytest.mark.slow
def test_desktop_notebook_runs_on_the_demo_archive(tmp_path, monkeypatch):
    from nora_lab.archive import Archive
    from nora_lab.demo import main as build_demo

    home = tmp_path / "demo"
    assert build_demo([str(home)]) == 0
    monkeypatch.setenv("NORA_HOME", str(home))
    monkeypatch.delenv("NORA_DB", raising=False)
    monkeypatch.delenv("NORA_ROOT", raising=False)
    text = run_notebook("desktop.ipynb", cwd=tmp_path)
    assert "['1234#1'] of 1" in text and "unterminated double quote" in text
    assert "1CT1#1CT1: 1 file(s) loaded\n" in text and "window (400.0, 1800.0)" in text
    assert "saved as 1CT1/1CT1/rois/bone.nii.gz" in text
    assert "saved as 1CT1/1CT1/annotations/landmarks.ano.json" in text
    assert "ROIs: ['bone'] | point sets: ['landmarks']" in text
    # what the notebook did is in the archive, for every user of the project
    proj = Archive.open(home).project("demo")
    assert proj.study("1CT1#1CT1")["tags"] == ["reviewed"]            # the second study, stepped to
    assert proj.get_json("autoloader", "ct review")["items"][0]["window"] == "bone"
    assert proj.files("rois/*", psid="1CT1#1CT1",
                      tags=["roi"])["relpath"].tolist() == ["rois/bone.nii.gz"]

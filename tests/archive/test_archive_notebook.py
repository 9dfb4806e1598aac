"""The archive's example notebook runs top to bottom."""

import pytest

from nora_lab.testing.notebooks import run_notebook


@pytest.mark.notebook
def test_archive_notebook_executes_without_error(tmp_path, monkeypatch):
    monkeypatch.setenv("NORA_HOME", str(tmp_path))  # the notebook sets its own; never ~
    text = run_notebook("archive.ipynb", cwd=tmp_path)
    assert "anna#S1" in text and "t1_trio_mpr/s000.nii.gz" in text

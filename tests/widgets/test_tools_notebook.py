"""notebooks/tools.ipynb executes headless (nbclient): the batch tool launches, Gridstats
shows the failing study's log, a demo Orthanc is searched and a study pulled."""

from __future__ import annotations

import pytest

from nora_lab.testing.notebooks import run_notebook


@pytest.mark.notebook
@pytest.mark.pacs
def test_tools_notebook_executes(tmp_path):
    text = run_notebook("tools.ipynb", cwd=tmp_path, timeout=240)
    assert "studies resolving to nothing: ['carl#S1']" in text
    assert "carl#S1 failed:" in text and "debug notebook: S1.debug.ipynb" in text
    assert "'anna#S1': 'd'" in text and "'carl#S1': 'e'" in text
    assert "1 patient(s), 1 stud(ies), 1 series" in text
    assert "imported" in text and "pulled: [" in text
    assert (tmp_path / "debug_copy_t1_carl_S1.ipynb").is_file()

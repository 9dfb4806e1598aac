"""The batch example notebook runs top to bottom."""

import pytest

from nora_lab.testing.notebooks import run_notebook


@pytest.mark.notebook
def test_batch_notebook_executes_without_error(tmp_path):
    text = run_notebook("batch.ipynb", cwd=tmp_path)
    assert "carl#S1 is broken" in text or "is broken" in text
    assert "{'d': 1} 0" in text and "S1.debug.ipynb" in text and "['summarize']" in text

"""The example notebook runs top to bottom."""

import pytest

from nora_lab.testing.notebooks import run_notebook


@pytest.mark.notebook
def test_imaging_notebook_executes_without_error():
    assert "mL" in run_notebook("imaging.ipynb", timeout=120)

"""notebooks/assistant.ipynb runs top to bottom and reaches the issue's Dice targets."""

import pytest

from nora_lab.testing.notebooks import run_notebook


@pytest.mark.notebook
@pytest.mark.slow
def test_assistant_notebook_executes():
    text = run_notebook("assistant.ipynb", timeout=400)
    assert "replayed to the same proposal: True" in text
    assert "nninteractive.weights" in text and "nninteractive-remote.url" in text

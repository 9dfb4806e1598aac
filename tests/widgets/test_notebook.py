"""notebooks/viewer.ipynb executes headless (nbclient: no page, so no bytes are sent);
the browser suite runs the same notebook in real JupyterLab."""

from __future__ import annotations

import pytest

from nora_lab.testing.notebooks import run_notebook


@pytest.mark.notebook
def test_viewer_notebook_executes(tmp_path):
    text = run_notebook("viewer.ipynb", cwd=tmp_path, timeout=120)
    assert "value under the crosshair: 75.0" in text

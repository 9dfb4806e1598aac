"""notebooks/roi_editors.ipynb executes headless (nbclient); the browser suite clicks its
polygon in real JupyterLab (tests/browser/test_roi_editors_browser.py)."""

from __future__ import annotations

import pytest

from nora_lab.testing.notebooks import run_notebook


@pytest.mark.notebook
def test_roi_editors_notebook_executes(tmp_path):
    text = run_notebook("roi_editors.ipynb", cwd=tmp_path, timeout=120)
    assert "voxels drawn: 0" in text and "after Commit: 260 voxels" in text
    assert "99×117×95 matrix" in text
    assert "preview voxels: 49 | box: 260" in text

"""notebooks/dicom_import.ipynb runs top to bottom on a fresh machine's data."""

from __future__ import annotations

import pytest

from nora_lab.testing.notebooks import run_notebook


@pytest.mark.notebook
def test_dicom_import_notebook_executes():
    text = run_notebook("dicom_import.ipynb", timeout=300)
    assert "4 converted" in text and "4 already imported" in text
    assert "Philips precise scaling" in text
    assert "b = ['0', '1000']" in text

"""notebooks/reading.ipynb runs top to bottom."""

import pytest

from nora_lab.testing.notebooks import run_notebook


@pytest.mark.notebook
def test_reading_notebook_executes_without_error():
    text = run_notebook("reading.ipynb")
    assert "ARCHIVE=" in text
    assert "krippendorff_alpha" in text and "median_seconds" in text and "hausdorff_mm" in text
    assert any("image/png" in o.get("data", {}) for o in text.outputs)  # the agreement plot

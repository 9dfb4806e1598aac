"""The processing notebook runs top to bottom: a demo cohort through the catalogue."""

import pytest

from nora_lab.testing.notebooks import run_notebook


@pytest.mark.notebook
@pytest.mark.slow
def test_processing_notebook_executes_and_plots_the_cohort(tmp_path):
    text = run_notebook("processing.ipynb", cwd=tmp_path, timeout=300)
    assert "{'d': 3}" in text
    assert "tissue_segment antspyx" in text and "<- n4" in text and "<- register_template" in text
    assert "demo01#MR1" in text and "volume_ml" in text
    assert any("image/png" in o.get("data", {}) for o in text.outputs)
    assert "GM/WM ratio per subject:" in text and "structural" in text

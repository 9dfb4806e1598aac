"""notebooks/data_in_out.ipynb runs top to bottom (each section asserts what it shows)."""

import pytest

from nora_lab.testing.notebooks import run_notebook


@pytest.mark.notebook
def test_data_in_out_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("NORA_HOME", str(tmp_path))
    text = run_notebook("data_in_out.ipynb", timeout=240)
    assert "{'already registered': 6, 'skip': 1}" in text          # adopt: a re-run adds nothing
    assert "0 error(s)" in text and "sub-demo01\tcontrol" in text     # BIDS: validated
    assert "('right lung', '#16c547')" in text                      # Slicer: named, coloured
    assert "['left lung', 'right lung']" in text                    # .seg.nrrd out
    assert "lesion core" in text                                    # DICOM SEG in
    assert "pulled again: ['already imported']" in text             # DICOMweb: WADO-RS
    assert "STOW-RS: {'sent': 8}" in text                           # DICOMweb: STOW-RS
    assert "5 series merged into one" in text                       # dcm2niix grouping
    assert "imported: s5001.nii.gz (8, 8, 3, 5)" in text

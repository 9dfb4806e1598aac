"""The archive's example notebook runs top to bottom."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "archive.ipynb"


@pytest.mark.notebook
def test_archive_notebook_executes_without_error(tmp_path, monkeypatch):
    monkeypatch.setenv("NORA_HOME", str(tmp_path))  # the notebook sets its own; never ~
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = str(outputs)
    assert "anna#S1" in text and "t1_trio_mpr/s000.nii.gz" in text

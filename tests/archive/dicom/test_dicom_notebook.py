"""notebooks/dicom_import.ipynb runs top to bottom on a fresh machine's data."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[3] / "notebooks" / "dicom_import.ipynb"


@pytest.mark.notebook
def test_dicom_import_notebook_executes():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") for o in outputs)
    assert "4 converted" in text and "4 already imported" in text
    assert "Philips precise scaling" in text
    assert "b = ['0', '1000']" in text

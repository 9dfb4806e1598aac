"""The batch example notebook runs top to bottom."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "batch.ipynb"


@pytest.mark.notebook
def test_batch_notebook_executes_without_error(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = str(outputs)
    assert "carl#S1 is broken" in text or "is broken" in text
    assert "{'d': 1} 0" in text and "S1.debug.ipynb" in text and "['summarize']" in text

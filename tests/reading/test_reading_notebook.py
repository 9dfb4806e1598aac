"""notebooks/reading.ipynb runs top to bottom."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "reading.ipynb"


@pytest.mark.notebook
def test_reading_notebook_executes_without_error():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "ARCHIVE=" in text
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "krippendorff_alpha" in html and "median_seconds" in html and "hausdorff_mm" in html
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the agreement plot

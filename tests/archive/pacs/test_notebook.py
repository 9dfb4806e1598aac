"""notebooks/pacs.ipynb runs top to bottom, anywhere: its own node, pynetdicom as modality."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[3] / "notebooks" / "pacs.ipynb"


@pytest.mark.notebook
def test_pacs_notebook_executes():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") or str(o.get("data", {}).get("text/plain", ""))
                     for o in outputs)
    assert "status 0x0000" in text
    assert text.count("1 converted") >= 2  # the two studies sent
    assert "aborted by the peer after 1 instance" in text  # the held mosaic series
    assert "already imported" in text  # the duplicate push

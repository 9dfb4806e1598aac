"""notebooks/pacs.ipynb runs top to bottom, anywhere: its own node, pynetdicom as modality."""

import pytest

from nora_lab.testing.notebooks import run_notebook


@pytest.mark.notebook
def test_pacs_notebook_executes():
    text = run_notebook("pacs.ipynb", timeout=300)
    assert "status 0x0000" in text
    assert text.count("1 converted") >= 2  # the two studies sent
    assert "aborted by the peer after 1 instance" in text  # the held mosaic series
    assert "already imported" in text  # the duplicate push

"""The lab administrator's example notebook runs top to bottom (demo archive, no hub)."""

import os

import pytest

from nora_lab.testing.notebooks import run_notebook


@pytest.mark.notebook
@pytest.mark.hub
def test_lab_admin_notebook_executes_without_error(tmp_path, monkeypatch):
    for key in ("NORA_DB", "NORA_ROOT", "JUPYTERHUB_USER", "NORA_HUB_BIND_URL",
                "NORA_HUB_SERVICE_TOKEN_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NORA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the demo archive the notebook makes
    text = run_notebook("lab_admin.ipynb", cwd=tmp_path)
    assert "administrator: True" in text
    assert "['ct-followup']" in text                       # carol after grant + revoke
    assert "mri-study — failed: ['P002#S1']" in text       # the BROKEN scan
    assert "no hub configured here" in text
    assert not os.environ.get("NORA_DB")

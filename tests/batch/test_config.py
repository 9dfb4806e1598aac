"""Batch settings: shipped batch.yaml → $NORA_HOME/batch.yaml → keyword arguments."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nora_lab.batch import settings
from nora_lab.batch.backends import cluster_kwargs
from nora_lab.errors import ConfigError


def _user(text: str) -> None:
    (Path(os.environ["NORA_HOME"]) / "batch.yaml").write_text(text)


def test_shipped_defaults():
    cfg = settings()
    assert cfg["backend"] == "local" and cfg["max-attempts"] == 2
    assert cfg["queues"] == {"processing": "proc", "import": "import"}
    assert cfg["slurm"]["adapt"] is True


def test_the_user_file_then_keywords_override():
    _user("batch:\n  backend: slurm\n  slurm:\n    memory: 8GB\n    walltime: '02:00:00'\n")
    cfg = settings()
    assert cfg["backend"] == "slurm" and cfg["slurm"]["memory"] == "8GB"
    assert cfg["slurm"]["cores"] == 1  # still the shipped default
    cfg = settings(memory="16GB", job_extra_directives=["--exclusive"], max_attempts=3)
    assert cfg["slurm"]["memory"] == "16GB" and cfg["max-attempts"] == 3
    kw = cluster_kwargs(cfg, {"queue": "import", "walltime": "00:10:00"})
    assert kw["queue"] == "import" and kw["walltime"] == "00:10:00"
    assert kw["job_extra_directives"] == ["--exclusive"] and "adapt" not in kw
    assert cluster_kwargs(settings(), {"queue": "processing"})["queue"] == "proc"


def test_bad_settings_say_where_to_fix_them():
    with pytest.raises(ConfigError, match="batch backend 'pbs': expected one of local, slurm, sge"):
        settings(backend="pbs")
    _user("- just\n- a list\n")
    with pytest.raises(ConfigError, match="batch.yaml: expected a mapping"):
        settings()
    _user("batch:\n  backend: slurm\n  slurm:\n    memory: null\n")
    with pytest.raises(ConfigError,
                       match=r"needs memory \(e.g. SLURMCluster\(cores=1, memory='2GB'\)"):
        cluster_kwargs(settings())


def test_every_setting_is_documented():
    import yaml

    shipped = Path(__file__).resolve().parents[2] / "nora_lab" / "batch" / "batch.yaml"
    doc = (Path(__file__).resolve().parents[2] / "docs" / "batch-format.md").read_text()

    def keys(d, out):
        for k, v in d.items():
            out.add(k)
            if isinstance(v, dict) and k != "scheduler-options":
                keys(v, out)
        return out

    missing = sorted(k for k in keys(yaml.safe_load(shipped.read_text())["batch"], set())
                     if k not in doc)
    assert not missing, f"settings missing from docs/batch-format.md: {missing}"

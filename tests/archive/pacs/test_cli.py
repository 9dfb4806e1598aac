"""The PACS flags of the ``nora`` command (nora_lab.archive.pacs.cli as a layer CLI)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import nora_lab.cli as cli
from nora_lab.testing.pacs import dcmtk

from .conftest import SI_EPI

pytestmark = pytest.mark.pacs

LAYER = "nora_lab.archive.pacs.cli"


@pytest.fixture
def env(archive, url, cfg, tmp_path):
    cfg.save()
    return {"NORA_PACS": str(cfg.path), "NORA_DB": url, "NORA_ROOT": str(archive.root),
            "NORA_HOME": str(tmp_path / "home")}


@pytest.fixture
def nora(monkeypatch, env, capsys):
    if LAYER not in cli.LAYER_CLIS:
        monkeypatch.setattr(cli, "LAYER_CLIS", (*cli.LAYER_CLIS, LAYER))
    for k, v in env.items():
        monkeypatch.setenv(k, v)

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_nodes_echo_and_find(nora):
    code, out, _ = nora("--pacs-add", "OTHER", "OTHERAE", "10.0.0.9", "104")
    assert code == 0 and "added PACS node OTHER" in out
    code, out, _ = nora("--pacs-nodes")
    assert sorted(n["name"] for n in json.loads(out)) == ["ORTHANC", "OTHER"]
    assert nora("--pacs-remove", "OTHER")[0] == 0
    code, out, _ = nora("--pacs-echo", "ORTHANC")
    assert code == 0 and out.startswith("C-ECHO ORTHANC: ok")
    code, out, _ = nora("--pacs-find", "ORTHANC", "--level", "series",
                        "--query", "series_description=EPI PE=*", "--query", "modality=MR")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 4 and {r["PatientID"] for r in rows} == {"DEV"}
    code, out, err = nora("--pacs-echo", "NOWHERE")
    assert code == 1 and "no PACS node 'NOWHERE'" in err


def test_pull_dry_run_then_pull(nora, project):
    code, out, _ = nora("-p", "p", "--pacs-pull", "ORTHANC", "--query",
                        "series_description=EPI PE=AP", "--dryrun")
    (plan,) = json.loads(out)
    assert code == 0 and plan["action"] == "pull series" and plan["to_pull"] == 2
    assert project.studies().empty
    code, out, _ = nora("-p", "p", "--pacs-pull", "ORTHANC", "--query",
                        "series_description=EPI PE=AP")
    (row,) = json.loads(out)
    assert code == 0 and row["status"] == "imported" and row["psid"].startswith("DEV#")
    code, _, err = nora("--pacs-pull", "ORTHANC", "--uids", "1.2.3")
    assert code == 1 and "needs a project" in err
    code, out, _ = nora("--node", "status")
    assert code == 0 and json.loads(out) == []


def test_node_start_serves_until_sigterm(env, cfg, project):
    script = (f"import sys, nora_lab.cli as c\n"
              f"c.LAYER_CLIS = tuple(dict.fromkeys((*c.LAYER_CLIS, {LAYER!r})))\n"
              f"sys.exit(c.main(sys.argv[1:]))\n")
    proc = subprocess.Popen([sys.executable, "-c", script, "-p", "p", "--node", "start",
                             "--aet", "NORA", "--quiet_period", "0.2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"})
    try:
        first = proc.stdout.readline()
        assert first.startswith("DICOM node NORA on 127.0.0.1:"), first + proc.stderr.read()
        dcmtk("storescu", "-aet", "MODALITY", "-aec", "NORA", "127.0.0.1", cfg.local.port,
              *sorted((SI_EPI / "mr_0005").glob("*.dcm")))
        t0 = time.monotonic()
        while project.studies().empty and time.monotonic() - t0 < 60:
            time.sleep(0.1)
        assert len(project.studies()) == 1
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "DICOM import into 'p'" in out and "1 converted" in out

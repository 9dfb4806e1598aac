"""Batch test fixtures: projects with studies, a shared LocalCluster, a real Slurm.

The ``slurm`` fixture starts a single-node Slurm (munged, slurmctld, slurmd) for the
session with ``scripts/slurm/start_slurm.sh`` in a temporary base on free ports, and
stops it by PID with ``stop_slurm.sh``. If it cannot start, every Slurm test FAILS with
the reason — never skips.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# the tests' helper modules (batchjobs, batchstudies) are imported by name, here, in the
# tests and in the jobs' processes (which get the launcher's sys.path): put this folder on
# it ourselves rather than rely on pytest's rootdir handling
sys.path.insert(0, str(Path(__file__).resolve().parent))

import batchjobs  # noqa: E402, F401 - registers the built-in jobs the tests use

REPO = Path(__file__).resolve().parents[2]
SLURM_SCRIPTS = REPO / "scripts" / "slurm"


@pytest.fixture
def project(archive):
    return archive.create_project("demo")


@pytest.fixture(autouse=True)
def _nora_home(tmp_path, monkeypatch):
    """Never read the developer's ~/.nora_lab/batch.yaml."""
    home = tmp_path / "nora_home"
    home.mkdir()
    monkeypatch.setenv("NORA_HOME", str(home))
    monkeypatch.delenv("NORA_PSID", raising=False)


@pytest.fixture(scope="module")
def local_cluster():
    """A LocalCluster shared by a module's small tests (two worker processes)."""
    from nora_lab.batch import backends, settings

    cluster = backends.make_cluster(settings(n_workers=2), n_units=2)
    yield cluster
    cluster.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Slurm:
    base: Path
    conf: Path
    env: dict = field(default_factory=dict)

    def options(self, tmp: Path, **more) -> dict:
        """launch() keywords for the slurm backend on this single node."""
        return {"backend": "slurm", "interface": "lo", "memory": "1GB", "walltime": "00:10:00",
                "scheduler_options": {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"},
                "local_directory": str(tmp / "dask-worker-space"), "maximum_jobs": 3, **more}

    def squeue(self) -> list[str]:
        out = subprocess.run(["squeue", "-h", "-o", "%i %T %j"], capture_output=True, text=True,
                             env={**os.environ, **self.env}, check=True)
        return [line for line in out.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def slurm():
    """A real single-node Slurm for the session (installs the Debian packages if missing)."""
    base = Path(tempfile.mkdtemp(prefix="nora-slurm-", dir="/tmp"))
    env = {**os.environ, "SLURM_BASE": str(base), "SLURM_NODE_CPUS": "4",
           "SLURM_CTLD_PORT": str(_free_port()), "SLURMD_PORT": str(_free_port()),
           "SLURM_INSTALL": "1"}
    if os.geteuid() != 0 and not shutil.which("slurmctld"):
        pytest.fail("Slurm is not installed and the tests do not run as root to install it: "
                    "apt-get install --no-install-recommends slurmctld slurmd slurm-client munge",
                    pytrace=False)
    proc = subprocess.run(["bash", str(SLURM_SCRIPTS / "start_slurm.sh")], env=env,
                          capture_output=True, text=True, timeout=600)
    conf = base / "etc" / "slurm.conf"
    if proc.returncode != 0:
        subprocess.run(["bash", str(SLURM_SCRIPTS / "stop_slurm.sh")], env=env,
                       capture_output=True, timeout=120)
        logs = "".join(f"\n--- {p.name}\n{p.read_text()[-2000:]}"
                       for p in (base / "log").glob("*.log"))
        pytest.fail(f"single-node Slurm could not start (start_slurm.sh exit {proc.returncode}):\n"
                    f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}{logs}", pytrace=False)
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(conf)
    try:
        yield Slurm(base, conf, {"SLURM_CONF": str(conf)})
    finally:
        subprocess.run(["bash", str(SLURM_SCRIPTS / "stop_slurm.sh")], env=env,
                       capture_output=True, timeout=120)
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
        shutil.rmtree(base, ignore_errors=True)

"""Hub tests: nora_lab's server extension and the whole lab deployment, on real services.

* ``servers`` (test_hub_server.py): two real ``jupyter server`` processes, one as alice and
  one as bob (``$JUPYTERHUB_USER``), on one SQLite archive, the extension enabled by the
  repo's ``jupyter-config/`` — the way every lab enables it.
* ``lab`` (test_hub_e2e.py): ``scripts/hub/up.sh`` in a temp base on free ports — single-node
  Slurm, PostgreSQL, configurable-http-proxy, JupyterHub with batchspawner, two Linux
  users created for the test — stopped by PID with ``scripts/hub/down.sh --purge``
  (which removes only the users up.sh created). If anything cannot start, the tests FAIL
  with the reason; nothing is skipped.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hubtest import REPO, Lab, free_port


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "hub: runs against real jupyter server processes or a whole JupyterHub lab")


def _facts(path: Path) -> dict:
    out = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip().strip("'")  # up.sh quotes each value
    return out


@pytest.fixture(scope="module")
def lab():
    """A whole lab by scripts/hub/up.sh; down.sh --purge afterwards, whatever happened."""
    from nora_lab.server.hubapi import HubClient

    if os.geteuid() != 0:
        pytest.fail("the hub tests start Slurm, PostgreSQL and labs as other users: run them "
                    "as root", pytrace=False)
    # the test users are machine-wide: a second run of this module waits for the first
    lock = open("/tmp/nora-hub-test.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    base = Path(tempfile.mkdtemp(prefix="nora-hub-test-", dir="/tmp"))
    port = free_port()
    env = {**os.environ, "NORA_HUB_BASE": str(base),
           "NORA_HUB_DEMO_USERS": "nora-alice nora-bob",
           "NORA_HUB_BIND_URL": f"http://127.0.0.1:{port}",
           "NORA_HUB_ARCHIVE_ADMIN": "nora-admin",
           "NORA_HUB_VENV_SRC": str(Path(sys.prefix))}
    for key in [k for k in env if k.startswith(("SLURM_", "NORA_DB", "NORA_ROOT"))]:
        env.pop(key)
    try:
        up = subprocess.run(["bash", str(REPO / "scripts" / "hub" / "up.sh")], env=env,
                            capture_output=True, text=True, timeout=900)
        if up.returncode != 0:
            tail = ""
            log = base / "state" / "jupyterhub.log"
            if log.exists():
                tail = log.read_text(errors="replace")[-3000:]
            pytest.fail(f"scripts/hub/up.sh failed (exit {up.returncode}):\n{up.stdout[-3000:]}\n"
                        f"{up.stderr[-3000:]}\n{tail}", pytrace=False)
        facts = _facts(base / "hub.env")
        token = Path(facts["NORA_HUB_SERVICE_TOKEN_FILE"]).read_text().strip()
        passwords = dict(line.split(":", 1) for line in
                         (base / "state" / "passwords").read_text().split())
        yield Lab(base, facts, facts["NORA_HUB_BIND_URL"], HubClient(facts["NORA_HUB_BIND_URL"],
                                                                     token), passwords)
    finally:
        started = _started_pids(base)
        down = subprocess.run(["bash", str(REPO / "scripts" / "hub" / "down.sh"), "--purge"],
                              env=env, capture_output=True, text=True, timeout=300)
        shutil.rmtree(base, ignore_errors=True)
        left = {name: pid for name, pid in started.items() if _running(pid)}
        marked = [u for u in ("nora-alice", "nora-bob") if _marked_user(u)]
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
        if down.returncode or left or marked:
            pytest.fail(f"down.sh --purge (exit {down.returncode}) left {left or 'no process'} "
                        f"running and {marked or 'no'} test users:\n{down.stdout}\n{down.stderr}",
                        pytrace=False)


def _started_pids(base: Path) -> dict[str, int]:
    """What up.sh started, by its pidfiles."""
    files = {"hub": base / "state/hub.pid", "proxy": base / "state/jupyterhub-proxy.pid",
             "postgres": base / "pg/data/postmaster.pid"}
    files.update({d: base / f"slurm/run/{d}.pid" for d in ("munged", "slurmctld", "slurmd")})
    out = {}
    for name, f in files.items():
        try:
            out[name] = int(f.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return out


def _running(pid: int) -> bool:
    """Alive and not a zombie (PID 1 reaps daemons' zombies a little later)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _marked_user(name: str) -> bool:
    import pwd

    try:
        return pwd.getpwnam(name).pw_gecos == "nora_lab hub demo user"
    except KeyError:
        return False

"""Hub tests: nora_lab's server extension and the whole lab deployment, on real services.

* ``servers`` (test_server.py): two real ``jupyter server`` processes, one as alice and
  one as bob (``$JUPYTERHUB_USER``), on one SQLite archive, the extension enabled by the
  repo's ``jupyter-config/`` — the way every lab enables it.
* ``lab`` (test_e2e.py): ``scripts/hub/up.sh`` in a temp base on free ports — single-node
  Slurm, PostgreSQL, configurable-http-proxy, JupyterHub with batchspawner, two Linux
  users created for the test — stopped by PID with ``scripts/hub/down.sh --purge``
  (which removes only the users up.sh created). If anything cannot start, the tests FAIL
  with the reason; nothing is skipped.
"""

from __future__ import annotations

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
            out[key.strip()] = value.strip()
    return out


@pytest.fixture(scope="module")
def lab():
    """A whole lab by scripts/hub/up.sh; down.sh --purge afterwards, whatever happened."""
    from nora_lab.server.hubapi import HubClient

    if os.geteuid() != 0:
        pytest.fail("the hub tests start Slurm, PostgreSQL and labs as other users: run them "
                    "as root", pytrace=False)
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
        down = subprocess.run(["bash", str(REPO / "scripts" / "hub" / "down.sh"), "--purge"],
                              env=env, capture_output=True, text=True, timeout=300)
        if down.returncode != 0:
            print(down.stdout, down.stderr)
        shutil.rmtree(base, ignore_errors=True)

"""Helpers of the hub tests: real jupyter servers, DICOM zips, polling (imported by
the tests as ``hubtest``; conftest.py holds the fixtures)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, poll: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}", pytrace=False)
        time.sleep(poll)


def dicom_zip(path: Path, files: dict[str, Path] | None = None,
              extra: dict[str, bytes] | None = None) -> Path:
    """A zip of pydicom's CT_small and MR_small (two series, two subjects) plus extras."""
    from pydicom.data import get_testdata_file

    files = files or {"exam/ct.dcm": Path(get_testdata_file("CT_small.dcm")),
                      "exam/mr.dcm": Path(get_testdata_file("MR_small.dcm"))}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, src in files.items():
            zf.write(src, name)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


@dataclass
class JupyterServer:
    """A real ``jupyter server`` process for one archive user (stopped by PID)."""

    user: str
    root_dir: Path
    env: dict
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> JupyterServer:
        self.root_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.root_dir.parent / f"server-{self.user}.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
             "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
             "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={self.root_dir}", f"--NoraServer.user={self.user}"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait(self, timeout: float = 120) -> None:
        def up():
            if self.proc.poll() is not None:
                pytest.fail(f"jupyter server for {self.user} exited ({self.proc.returncode}): "
                            f"{self.log()[-3000:]}", pytrace=False)
            try:
                req = urllib.request.Request(self.url + "api/status",
                                             headers={"Authorization": f"token {self.token}"})
                with urllib.request.urlopen(req, timeout=5) as r:
                    return r.status == 200
            except (urllib.error.URLError, OSError):
                return False
        wait_until(up, timeout, f"jupyter server of {self.user} on port {self.port}")

    def log(self) -> str:
        p = self.root_dir.parent / f"server-{self.user}.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)  # its session: the server and its workers
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@dataclass
class Lab:
    """What scripts/hub/up.sh brought up (its hub.env facts) and a hub API client."""

    base: Path
    facts: dict
    url: str
    hub: object  # nora_lab.server.hubapi.HubClient
    passwords: dict

    def log_tail(self, n: int = 4000) -> str:
        p = self.base / "state" / "jupyterhub.log"
        return p.read_text(errors="replace")[-n:] if p.exists() else "(no hub log)"


class Browser:
    """A user's browser session on the hub: cookies, redirects followed, forms posted."""

    def __init__(self, url: str) -> None:
        import http.cookiejar

        self.url = url.rstrip("/")
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def open(self, path: str, form: dict | None = None) -> tuple[int, str, str]:
        """(status, final URL, page) of a GET, or a POST of ``form``."""
        import urllib.parse

        url = path if path.startswith("http") else self.url + path
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(url, data=data, timeout=120) as r:
                return r.status, r.url, r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.url, e.read().decode(errors="replace")

    def login(self, user: str, password: str) -> tuple[int, str, str]:
        import re

        _, _, page = self.open("/hub/login")
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page)
        assert xsrf, "no _xsrf field on the hub's login page"
        return self.open("/hub/login", {"username": user, "password": password,
                                        "_xsrf": xsrf.group(1)})

    @staticmethod
    def form_action(page: str) -> str:
        import html
        import re

        m = re.search(r'id="spawn_form"\s+action="([^"]+)"', page)
        assert m, "no spawn form on the page"
        return html.unescape(m.group(1))

"""Real JupyterLab in real headless Chromium, for widget tests.

Session fixtures start one ``jupyter lab`` (no token, 127.0.0.1, a free port,
``root_dir`` = a temp dir holding a copy of ``notebooks/``) and one Debian
Chromium driven by Playwright (``executable_path=/usr/bin/chromium``; never
``playwright install``). WebGL2 runs on SwiftShader. If Chromium or
JupyterLab cannot start, every browser test FAILS saying why – nothing is
skipped. Screenshots go to ``artifacts/browser/`` (gitignored).

The Lab server's kernels see ``NORA_HOME`` = a demo archive built for the
session through the real import path (``python -m nora_lab.demo``), as
``make lab`` does, so ``notebooks/quickstart.ipynb`` runs as a user sees it.

Helpers on the ``lab`` fixture open a notebook with a fresh kernel, run all
cells through the Run menu, and wait on DOM markers the widgets write.
"""

from __future__ import annotations

import http.cookiejar
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen, grace: float = 15.0) -> None:
    """Stop a process we started, by its PID, then what is left of its own session."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    try:  # kernels the server started live in the session we created for it
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class LabServer:
    """A ``jupyter lab`` process serving a temp copy of ``notebooks/``."""

    def __init__(self, root_dir: Path, log_path: Path, env: dict[str, str] | None = None):
        self.root_dir = root_dir
        self.log_path = log_path
        self.extra_env = dict(env or {})
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self._opener = None
        self._xsrf = ""

    def start(self, timeout: float = 120.0) -> None:
        jupyter = Path(sys.executable).with_name("jupyter")
        cmd = [str(jupyter), "lab", "--no-browser", "--ServerApp.token=", "--ServerApp.password=",
               "--ip=127.0.0.1", f"--port={self.port}", "--allow-root",
               f"--ServerApp.root_dir={self.root_dir}", "--LabApp.news_url="]
        env = {k: v for k, v in os.environ.items() if k not in ("NORA_DB", "NORA_ROOT")}
        env.update({"JUPYTER_CONFIG_DIR": str(self.root_dir / ".jupyter-config"),
                    "PYTHONUNBUFFERED": "1", **self.extra_env})
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     cwd=self.root_dir, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"jupyter lab exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/api/status", timeout=2) as r:
                    if r.status == 200:
                        self._login()
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(
            f"jupyter lab did not answer on {self.url} within {timeout:.0f} s:\n{self.log_tail()}")

    def _login(self) -> None:
        jar = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        self._opener.open(self.url + "/lab").read()  # sets the _xsrf cookie
        self._xsrf = next((c.value for c in jar if c.name == "_xsrf"), "")

    def api(self, method: str, path: str):
        req = urllib.request.Request(self.url + path, method=method,
                                     headers={"X-XSRFToken": self._xsrf})
        with self._opener.open(req, timeout=30) as r:
            body = r.read()
        return json.loads(body) if body else None

    def delete_sessions(self) -> None:
        """Fresh kernels for the next page: the server keeps kernels between visits."""
        for s in self.api("GET", "/api/sessions") or []:
            self.api("DELETE", f"/api/sessions/{s['id']}")

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
        if getattr(self, "log", None):
            self.log.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory) -> Path:
    """The demo archive of ``make lab``, built once for the session in a temp NORA_HOME."""
    from nora_lab.demo import main as build_demo

    home = tmp_path_factory.mktemp("nora-demo-home")
    try:
        rc = build_demo([str(home)])
    except Exception as exc:  # noqa: BLE001 - any reason is a failure, with the reason
        pytest.fail(f"the demo archive could not be built in {home}: {exc}", pytrace=False)
    if rc != 0:
        pytest.fail(f"python -m nora_lab.demo {home} exited with {rc}", pytrace=False)
    return home


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory, artifacts, demo_home):
    root = tmp_path_factory.mktemp("lab")
    for nb in NOTEBOOKS.glob("*.ipynb"):
        shutil.copy(nb, root / nb.name)
    server = LabServer(root, artifacts / "jupyter-lab.log", env={"NORA_HOME": str(demo_home)})
    try:
        server.start()
    except Exception as exc:  # noqa: BLE001 - any reason is a failure, with the reason
        server.stop()
        pytest.fail(f"JupyterLab could not start, so the browser tests cannot run: {exc}",
                    pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); "
                    "the browser tests never use `playwright install`", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(f"playwright (python) is not installed: {exc}", pytrace=False)
    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
    except Exception as exc:  # noqa: BLE001
        pw.stop()
        pytest.fail(f"Chromium could not start from {CHROMIUM}: {exc}", pytrace=False)
    yield b
    b.close()
    pw.stop()


class Lab:
    """Drive notebooks in the session's JupyterLab."""

    def __init__(self, server: LabServer, browser, artifacts: Path):
        self.server = server
        self.browser = browser
        self.artifacts = artifacts
        self.console: list[str] = []
        self.external_requests: list[str] = []  # anything not served by our Lab (CDNs, ...)
        self.responses: list[tuple[int, str]] = []  # (status, path) our Lab answered the page

    def open_notebook(self, name: str, viewport=(1300, 2400)):
        """Open ``name`` with a fresh kernel; wait until the kernel is idle."""
        self.server.delete_sessions()
        self.responses = []  # this page's
        ctx = self.browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                       device_scale_factor=1)
        page = ctx.new_page()
        page.on("console", lambda m: self.console.append(f"[{m.type}] {m.text}"[:500]))
        page.on("request", lambda r: None if r.url.startswith((self.server.url, "data:", "blob:"))
                else self.external_requests.append(r.url))
        page.on("response", lambda r: self.responses.append(
            (r.status, r.url[len(self.server.url):])) if r.url.startswith(self.server.url)
            else None)
        page.on("pageerror",
                lambda e: self.console.append(f"[pageerror] {e} {getattr(e, 'stack', '')}"[:1500]))
        # ?reset: do not restore tabs of an earlier workspace
        page.goto(f"{self.server.url}/lab/tree/{name}?reset", wait_until="domcontentloaded")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        # "| Idle" in the status bar = kernel connected and idle (the toolbar indicator lies early)
        page.wait_for_function(
            "() => /\\| Idle/.test("
            "document.querySelector('.jp-StatusBar-Widget')?.innerText || '')",
            timeout=90_000)
        return page

    def run_all(self, page, timeout: float = 180.0) -> None:
        """Run → Run All Cells, then wait until every code cell has an execution count."""
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        page.wait_for_function(
            """() => { const ps = [...document.querySelectorAll(
                             '.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')]
                         .map(e => e.textContent.trim());
                       return ps.length > 0 && ps.every(s => /\\[\\d+\\]/.test(s)); }""",
            timeout=timeout * 1000)

    def run_notebook(self, name: str, ready: str, prefix: str, timeout: float = 150.0):
        """Open ``name``, run all its cells and wait until the JS predicate ``ready`` holds;
        screenshots ``<prefix>_notebook.png`` (or ``<prefix>_not_ready.png``, then fails)."""
        page = self.open_notebook(name)
        self.run_all(page)
        try:
            page.wait_for_function(ready, timeout=timeout * 1000)
        except Exception:
            page.screenshot(path=str(self.artifacts / f"{prefix}_not_ready.png"), full_page=True)
            raise
        page.wait_for_timeout(500)
        page.screenshot(path=str(self.artifacts / f"{prefix}_notebook.png"), full_page=True)
        return page

    def finish(self, page, prefix: str) -> None:
        """Screenshot ``<prefix>_notebook_end.png`` and close the page."""
        page.screenshot(path=str(self.artifacts / f"{prefix}_notebook_end.png"), full_page=True)
        self.close(page)

    def errors_in_outputs(self, page) -> list[str]:
        return page.eval_on_selector_all(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
            "els => els.map(e => e.innerText.slice(0, 2000))")

    def shot(self, locator, name: str) -> bytes:
        return locator.screenshot(path=str(self.artifacts / name))

    def close(self, page) -> None:
        (self.artifacts / "console.log").write_text("\n".join(self.console))
        page.context.close()
        self.server.delete_sessions()


@pytest.fixture(scope="session")
def lab(lab_server, browser, artifacts):
    return Lab(lab_server, browser, artifacts)


def pixel_stats(png: bytes) -> dict:
    """Unique colours and the fraction of pixels that differ from the dominant colour."""
    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3).astype(np.int64)
    packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    dominant = int(values[counts.argmax()])
    return {"unique_colors": int(values.size), "dominant": f"#{dominant:06x}",
            "frac_non_dominant": float(np.mean(packed != dominant))}

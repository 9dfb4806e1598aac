"""A reader answers the reading form in a browser, and the answer is in the database.

Two hosts: the notebook widget in real JupyterLab (notebooks/reading.ipynb, run top to
bottom; alice reads the training cases), and the standalone Panel app served by
``nora_lab.reading.serve`` in its own process (bob reads). Each check crosses the
kernel / server: the progress line ("1 of 4 done") is rewritten by Python after the
result was stored, and the test then reads the row back from the archive itself.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from nora_lab.archive import Archive
from nora_lab.reading import Reading

pytestmark = pytest.mark.browser


def _answer_in_db(home, user: str) -> dict:
    arc = Archive.open(home, user="alice")
    try:
        res = Reading.open(arc.project("reading_demo"), "lesions").results("training", reader=user)
    finally:
        arc.close()
    assert len(res) == 1, res
    return res.iloc[0].to_dict()


def test_reader_answers_in_jupyterlab(lab):
    page = lab.open_notebook("reading.ipynb")
    try:
        lab.run_all(page, timeout=240)
        widget = page.locator(".nora-reading").first
        progress = widget.locator(".nora-reading-progress")
        progress.get_by_text("0 of 4 done").wait_for(timeout=60_000)
        assert lab.errors_in_outputs(page) == []
        text = page.locator(".jp-OutputArea-output", has_text="ARCHIVE=").first.inner_text()
        home = re.search(r"ARCHIVE=(\S+)", text).group(1)
        widget.locator(".nora-reading-item-lesion label", has_text="yes").click()
        widget.locator(".nora-reading-item-side label", has_text="left").click()
        widget.locator(".nora-reading-submit").click()
        progress.get_by_text("1 of 4 done").wait_for(timeout=60_000)
        assert "saved case 1" in widget.locator(".nora-reading-status").inner_text()
        page.screenshot(path=str(lab.artifacts / "reading_notebook.png"), full_page=True)
    except Exception:
        page.screenshot(path=str(lab.artifacts / "reading_notebook_failed.png"), full_page=True)
        raise
    finally:
        lab.close(page)
    row = _answer_in_db(home, "alice")
    assert row["answer.lesion"] == "yes" and row["answer.side"] == ["left"]
    assert row["psid"] == "P01#S1" and row["stage"] == 0 and row["seconds"] > 0


@contextlib.contextmanager
def _app_process(cmd: list[str], url: str, log_path: Path):
    """Run a reading app server until it answers on ``url``; stop it by its PID after."""
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the reading app exited with {proc.returncode}; see {log_path}")
            try:
                urllib.request.urlopen(url, timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the reading app did not answer on {url} within 90 s")
                time.sleep(0.5)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()


def _demo(tmp_path):
    from nora_lab.reading.demo import build_demo

    home = tmp_path / "home"
    build_demo(home)[0].close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return home, s.getsockname()[1]


@pytest.fixture(params=["serve", "panel-serve"])
def panel_app(request, tmp_path, artifacts):
    """The demo reading as bob, in its own process: ``nora_lab.reading.serve(...)`` or
    ``panel serve nora_lab/reading/panel_app.py --args ...``."""
    home, port = _demo(tmp_path)
    if request.param == "serve":
        code = ("from nora_lab.reading import serve; "
                f"serve({str(home)!r}, 'reading_demo', 'lesions', 'training', user='bob', "
                f"port={port})")
        cmd, path = [sys.executable, "-c", code], "reading"
    else:
        import nora_lab.reading.panel_app as module

        cmd = [str(Path(sys.executable).with_name("panel")), "serve", module.__file__,
               "--address", "127.0.0.1", "--port", str(port),
               f"--allow-websocket-origin=127.0.0.1:{port}", "--args", "--archive", str(home),
               "--project", "reading_demo", "--reading", "lesions", "--mode", "training",
               "--user", "bob"]
        path = "panel_app"
    with _app_process(cmd, f"http://127.0.0.1:{port}/{path}",
                      artifacts / f"reading-{request.param}.log") as url:
        yield url, home


def test_reader_answers_in_the_panel_app(browser, panel_app, artifacts):
    url, home = panel_app
    ctx = browser.new_context(viewport={"width": 1300, "height": 1100})
    page = ctx.new_page()
    external = []
    page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
            else external.append(r.url))
    try:
        page.goto(url)
        page.get_by_text("0 of 4 done").wait_for(timeout=60_000)
        page.get_by_role("radio", name="no").click()
        page.get_by_role("checkbox", name="right").click()
        page.get_by_role("button", name="Submit").click()
        page.get_by_text("1 of 4 done").wait_for(timeout=60_000)
        page.screenshot(path=str(artifacts / "reading_panel.png"), full_page=True)
    except Exception:
        page.screenshot(path=str(artifacts / "reading_panel_failed.png"), full_page=True)
        raise
    finally:
        ctx.close()
    row = _answer_in_db(home, "bob")
    assert row["answer.lesion"] == "no" and row["answer.side"] == ["right"]
    assert row["entered_by"] == "bob" and row["seconds"] > 0
    assert external == []  # served offline: no CDN


def test_each_login_reads_as_itself_and_needs_a_right(browser, tmp_path, artifacts):
    """One server, several readers: Panel's login names the reader; rights decide."""
    home, port = _demo(tmp_path)
    creds = tmp_path / "logins.json"
    creds.write_text('{"carol": "pw-carol", "dave": "pw-dave"}')
    code = ("from nora_lab.reading import serve; "
            f"serve({str(home)!r}, 'reading_demo', 'lesions', 'training', port={port}, "
            f"basic_auth={str(creds)!r}, cookie_secret='reading-test')")
    with _app_process([sys.executable, "-c", code], f"http://127.0.0.1:{port}/login",
                      artifacts / "reading-login.log"):
        for user in ("dave", "carol"):
            ctx = browser.new_context(viewport={"width": 1300, "height": 1100})
            page = ctx.new_page()
            try:
                page.goto(f"http://127.0.0.1:{port}/reading")
                page.fill("input[name=username]", user)
                page.fill("input[name=password]", f"pw-{user}")
                page.click("button[type=submit], input[type=submit]")
                if user == "dave":  # no right on the project
                    page.get_by_text("cannot be opened").wait_for(timeout=60_000)
                    assert page.get_by_text("no project 'reading_demo'").count() == 1
                    assert page.get_by_role("button", name="Submit").count() == 0
                else:
                    page.get_by_text("reader: carol").wait_for(timeout=60_000)
                    page.get_by_role("radio", name="yes").click()
                    page.get_by_role("button", name="Submit").click()
                    page.get_by_text("1 of 4 done").wait_for(timeout=60_000)
            except Exception:
                page.screenshot(path=str(artifacts / f"reading_login_{user}_failed.png"),
                                full_page=True)
                raise
            finally:
                ctx.close()
    row = _answer_in_db(home, "carol")
    assert row["answer.lesion"] == "yes" and row["entered_by"] == "carol"

"""The suite's test data: a pinned manifest, a verifying fetcher, and a one-line stop without it.

The fetcher is tested offline: a local HTTP server serves ``{repo}/{commit}/{path}`` from
the verified copies this machine has (``../shared/data`` here), as the public source would.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nora_lab.errors import DatasetError
from nora_lab.testing import testdata

REPO = Path(__file__).resolve().parents[1]
SMALL = "dcm_qa_ts"  # 29 files, 8 MB
COPIES = testdata.require()  # this machine's verified copies, before any test hides them


class _Source(http.server.ThreadingHTTPServer):
    """Serves the verified copies as ``/{repo}/{commit}/{path}``; can tamper, cut or stall."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.tamper: set[str] = set()    # paths served with one byte changed
        self.cut: set[str] = set()       # paths whose connection drops halfway
        self.delay = 0.0                 # seconds before each file
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def file(self, url_path: str) -> tuple[str, Path] | None:
        for ds in testdata.datasets().values():
            prefix = f"/{ds.repo}/{ds.commit}/"
            if url_path.startswith(prefix):
                rel = url_path[len(prefix):]
                if rel in ds.files:
                    return rel, COPIES[ds.name] / rel
        return None


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Source

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.requests.append(self.path)
        found = self.server.file(self.path)
        if found is None:
            self.send_error(404)
            return
        rel, src = found
        time.sleep(self.server.delay)
        data = bytearray(src.read_bytes())
        if rel in self.server.tamper:
            data[len(data) // 2] ^= 0xFF
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if rel in self.server.cut:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def source():
    server = _Source()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty ``$NORA_TESTDATA`` and no ``../shared/data``: a fresh user's clone."""
    where = tmp_path / "cache"
    monkeypatch.setenv("NORA_TESTDATA", str(where))
    monkeypatch.setattr(testdata, "shared_mirror", lambda: tmp_path / "no-shared")
    monkeypatch.setattr(testdata, "_verified", {})
    monkeypatch.setattr(testdata, "_dicom_root", None)
    return where


def _leftovers(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob(".partial-*")) if root.exists() else []


# --- the manifest ------------------------------------------------------------------------

def test_the_manifest_pins_each_dataset_to_a_commit_with_a_sha256_per_file():
    sets = testdata.datasets()
    assert set(sets) == {"dcm_qa_nih", "dcm_qa_ts", "dcm_qa_ge", "example-dicom-structural"}
    for ds in sets.values():
        assert re.fullmatch(r"[0-9a-f]{40}", ds.commit), ds
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", ds.repo), ds
        assert ds.folder == f"dicom/{ds.name}" and ds.license
        assert ds.files and all(size > 0 and re.fullmatch(r"[0-9a-f]{64}", sha)
                                for size, sha in ds.files.values())
        assert all(not rel.startswith("/") and ".." not in rel.split("/") for rel in ds.files)
    assert sets["dcm_qa_nih"].commit.startswith("d302d6e2")
    assert len(sets["example-dicom-structural"].files) == 386


def test_the_manifest_lists_exactly_the_files_of_its_uses():
    """``manifest --from`` rebuilds the same manifest from the verified copies."""
    raw = json.loads(testdata.MANIFEST.read_text())
    for name, entry in raw["datasets"].items():
        where = testdata.path(name)
        listed = sorted(entry["files"])
        walked = sorted(p.relative_to(where).as_posix() for use in entry["uses"]
                        for p in ([where / use] if not use.endswith("/") else
                                  (where / use).rglob("*")) if p.is_file())
        assert listed == walked, name


def test_every_dataset_is_found_verified_on_this_machine():
    found = testdata.require()
    assert all(testdata.is_verified(name, where, full=True) for name, where in found.items())
    root = testdata.dicom_root()
    assert (root / "dcm_qa_ts" / "In" / "1.dcm").is_file()


def test_an_unknown_dataset_names_the_known_ones():
    with pytest.raises(DatasetError, match="no test dataset named 'nope'.*dcm_qa_ts"):
        testdata.path("nope")


# --- fetching ----------------------------------------------------------------------------

def test_a_fresh_cache_is_filled_from_the_source_and_never_fetched_again(cache, source):
    with pytest.raises(DatasetError, match=r"dcm_qa_ts .*missing.*make testdata"):
        testdata.path(SMALL)
    got = testdata.fetch([SMALL], url=source.url)
    assert got == {SMALL: cache / "dicom" / SMALL}
    assert testdata.path(SMALL) == cache / "dicom" / SMALL
    assert len(source.requests) == len(testdata.datasets()[SMALL].files)
    assert testdata.is_verified(SMALL, cache / "dicom" / SMALL, full=True)
    testdata.fetch([SMALL], url=source.url)
    assert len(source.requests) == len(testdata.datasets()[SMALL].files), "fetched again"
    assert _leftovers(cache) == []


def test_a_changed_file_is_no_longer_a_verified_copy(cache, source):
    testdata.fetch([SMALL], url=source.url)
    victim = cache / "dicom" / SMALL / "In" / "3.dcm"
    data = bytearray(victim.read_bytes())
    data[-1] ^= 1
    victim.write_bytes(bytes(data))
    testdata._verified.clear()
    assert not testdata.is_verified(SMALL, victim.parents[1])
    testdata.fetch([SMALL], url=source.url)  # replaced by a verified copy
    assert testdata.is_verified(SMALL, victim.parents[1], full=True)


def test_a_hash_mismatch_is_refused_and_leaves_nothing(cache, source):
    source.tamper.add("In/4.dcm")
    with pytest.raises(DatasetError) as err:
        testdata.fetch([SMALL], url=source.url)
    msg = str(err.value)
    assert "dcm_qa_ts" in msg and "In/4.dcm" in msg and "sha256" in msg and "refused" in msg
    assert not (cache / "dicom" / SMALL).exists() and _leftovers(cache) == []


def test_an_interrupted_download_leaves_nothing(cache, source):
    source.cut.add("In/6.dcm")
    with pytest.raises(DatasetError, match=r"could not download .*In/6\.dcm"):
        testdata.fetch([SMALL], url=source.url)
    assert not (cache / "dicom" / SMALL).exists() and _leftovers(cache) == []


def test_a_killed_fetch_leaves_no_dataset_and_the_next_one_completes(cache, source, tmp_path):
    source.delay = 0.2
    env = {**os.environ, "NORA_TESTDATA": str(cache), "PYTHONPATH": str(tmp_path / "site")}
    # the child must not see ../shared/data either: it imports a copy of the package
    shutil.copytree(REPO / "nora_lab", tmp_path / "site" / "nora_lab",
                    ignore=shutil.ignore_patterns("static", "js", "__pycache__"))
    child = subprocess.Popen([sys.executable, "-m", "nora_lab.testing.testdata", "fetch", SMALL,
                              "--url", source.url], env=env, cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while len(source.requests) < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert 10 <= len(source.requests) < len(testdata.datasets()[SMALL].files)
    assert not (cache / "dicom" / SMALL).exists()
    with pytest.raises(DatasetError):
        testdata.path(SMALL)
    source.delay = 0
    testdata.fetch([SMALL], url=source.url)
    assert testdata.is_verified(SMALL, cache / "dicom" / SMALL, full=True)
    assert _leftovers(cache) == []


def test_into_makes_an_offline_mirror_from_a_verified_local_copy(tmp_path, source):
    mirror = tmp_path / "mirror"
    got = testdata.fetch([SMALL], into=mirror, url=source.url)
    assert got == {SMALL: mirror / "dicom" / SMALL}
    assert source.requests == [], "a verified local copy is copied, not downloaded"
    assert testdata.is_verified(SMALL, mirror / "dicom" / SMALL, full=True)


# --- a clone without ../shared -----------------------------------------------------------

def _clone(tmp_path: Path) -> Path:
    """The package and the suite's conftest, in a folder with no ``../shared`` beside it."""
    clone = tmp_path / "clone"
    shutil.copytree(REPO / "nora_lab", clone / "nora_lab",
                    ignore=shutil.ignore_patterns("static", "js", "__pycache__"))
    (clone / "tests").mkdir()
    shutil.copy(REPO / "tests" / "conftest.py", clone / "tests" / "conftest.py")
    (clone / "tests" / "test_one.py").write_text("def test_one():\n    assert True\n")
    (clone / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")
    return clone


def _run(clone: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=clone, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(clone), **env}, timeout=120)


def test_without_network_or_mirror_the_fetch_and_the_suite_stop_with_one_line(tmp_path):
    clone = _clone(tmp_path)
    offline = {"NORA_TESTDATA": str(tmp_path / "empty"), "NORA_TESTDATA_URL": "http://127.0.0.1:9"}
    fetch = _run(clone, "-m", "nora_lab.testing.testdata", "fetch", **offline)
    assert fetch.returncode == 2
    assert "Traceback" not in fetch.stderr
    errors = [ln for ln in fetch.stderr.splitlines() if ln.startswith("nora_lab test data:")]
    assert len(errors) == 1, fetch.stderr
    assert "could not be fetched" in errors[0] and "dcm_qa_nih" in errors[0]
    assert "NORA_TESTDATA" in errors[0]
    suite = _run(clone, "-m", "pytest", "-q", "-p", "no:cacheprovider", **offline)
    assert suite.returncode == 3, suite.stdout + suite.stderr
    assert "1 passed" not in suite.stdout
    exit_lines = [ln for ln in suite.stdout.splitlines() if "make testdata" in ln]
    assert len(exit_lines) == 1 and "dcm_qa_nih" in exit_lines[0], suite.stdout


def test_a_clone_passes_with_a_mirror_that_fetch_built(tmp_path):
    mirror = tmp_path / "mirror"
    testdata.fetch(into=mirror)  # from this machine's verified copies, as on a connected one
    clone = _clone(tmp_path)
    suite = _run(clone, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 NORA_TESTDATA=str(mirror), NORA_TESTDATA_URL="http://127.0.0.1:9")
    assert suite.returncode == 0 and "1 passed" in suite.stdout, suite.stdout + suite.stderr

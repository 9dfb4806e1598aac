"""The prebuilt JupyterLab extension (``nora_lab/labextension``, built from ``extensions/``):
current with its sources, complete, shipped in the wheel and installed in this environment."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
SRC = TOP / "extensions"
BUILT = TOP / "nora_lab" / "labextension"
NAME = "nora-lab-jupyterlab"


def source_hash(root: Path) -> str:
    """What extensions/build.mjs stamps into build.json: src/, style/, package.json and
    package-lock.json, sorted, each as its path then its bytes."""
    files = ["package.json", "package-lock.json"]
    files += [f"{d}/{p.name}" for d in ("src", "style") for p in (root / d).iterdir()]
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f.encode())
        h.update((root / f).read_bytes())
    return h.hexdigest()


def test_the_shipped_labextension_is_built_from_the_current_sources():
    stamp = json.loads((BUILT / "build.json").read_text())["source_sha256"]
    assert stamp == source_hash(SRC), (
        "nora_lab/labextension is stale: run `npm ci && npm run build` in extensions/")


def test_the_lock_file_is_committed_and_pins_what_package_json_asks():
    lock = json.loads((SRC / "package-lock.json").read_text())
    pkg = json.loads((SRC / "package.json").read_text())
    assert lock["name"] == pkg["name"] == NAME
    root = lock["packages"][""]
    assert root["dependencies"] == pkg["dependencies"]
    assert lock["packages"]["node_modules/@niivue/niivue"]["version"] == "0.69.0"


def test_the_built_extension_names_files_that_exist():
    meta = json.loads((BUILT / "package.json").read_text())
    assert meta["name"] == NAME
    build = meta["jupyterlab"]["_build"]
    assert (BUILT / build["load"]).is_file()
    static = {p.name for p in (BUILT / "static").iterdir()}
    assert "style.js" in static and "third-party-licenses.json" in static


def test_the_wheel_installs_it_where_jupyterlab_looks():
    files = tomllib.loads((TOP / "pyproject.toml").read_text())["tool"]["setuptools"][
        "data-files"]
    dest = f"share/jupyter/labextensions/{NAME}"
    assert "nora_lab/labextension/package.json" in files[dest]
    assert files[f"{dest}/static"] == ["nora_lab/labextension/static/*"]
    # editable installs skip data-files: `make env` links the folder instead
    assert f"nora_lab/labextension $(VENV)/{dest}" in (TOP / "Makefile").read_text()


def test_jupyterlab_here_has_it_enabled():
    out = subprocess.run([str(Path(sys.executable).with_name("jupyter")), "labextension", "list"],
                         capture_output=True, text=True, timeout=120)
    line = next((ln for ln in (out.stdout + out.stderr).splitlines() if NAME in ln), "")
    assert "enabled" in line and "OK" in line, (
        f"{NAME} is not installed in this environment (run `make env`):\n{out.stdout}{out.stderr}")

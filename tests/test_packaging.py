"""The package's metadata: pyproject and environment.yml agree; the CLI is installed."""

import shutil
import tomllib
from pathlib import Path

import yaml

TOP = Path(__file__).resolve().parents[1]


def test_environment_yml_installs_the_same_dependencies_as_pyproject():
    project = tomllib.loads((TOP / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["test"])
    env = yaml.safe_load((TOP / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert set(pip) - {"-e ."} == wanted
    assert any(str(d).startswith("python>=3.11") for d in env["dependencies"])


def test_nora_console_script_is_installed():
    assert shutil.which("nora") or (Path(__import__("sys").executable).parent / "nora").exists()


def test_readme_quickstart_has_exactly_the_two_setup_commands():
    text = (TOP / "README.md").read_text()
    quick = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = [ln.strip() for ln in quick.splitlines() if ln.strip().startswith("make ")]
    assert commands == ["make lab", "make test"]


def test_ci_runs_make_test():
    assert "make test" in (TOP / ".ci" / "run").read_text()


def test_make_test_lints_and_type_checks_first():
    """`make test` (what CI runs) depends on `make lint`: ruff over the code, tests and
    benchmarks with no blanket E501 exception, then mypy over the package."""
    import re
    import tomllib

    make = (TOP / "Makefile").read_text()
    assert re.search(r"^test: lint\b", make, re.M)
    lint = make.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "ruff check nora_lab tests benchmarks" in lint and "mypy" in lint
    tools = tomllib.loads((TOP / "pyproject.toml").read_text())["tool"]
    assert "E501" not in tools["ruff"]["lint"].get("ignore", [])
    assert tools["mypy"]["files"] == ["nora_lab"] and tools["mypy"]["check_untyped_defs"]


def test_import_is_light():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import nora_lab, sys; "
                          "print(sorted(m for m in sys.modules if m.split('.')[0] in "
                          "('pandas','sqlalchemy','dask','nibabel','pydicom')))"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_archive_and_the_cli_start_without_pandas_alembic_or_pydicom():
    """Every `nora` call (one per batch job) pays these imports: they load on first use."""
    import subprocess
    import sys

    code = ("import nora_lab.archive, nora_lab.cli, sys; nora_lab.cli.build_parser(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'pandas', 'alembic', 'pydicom', 'pynetdicom', 'dask', 'nibabel'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_test_modules_have_unique_names():
    """pytest imports a test module by its name below the first folder that is not a
    package: two such `test_cli.py` would shadow each other."""
    from collections import Counter

    def import_name(path):
        parts = [path.stem]
        while (path.parent / "__init__.py").exists():
            path = path.parent
            parts.insert(0, path.name)
        return ".".join(parts)

    names = Counter(import_name(p) for p in (TOP / "tests").rglob("test_*.py"))
    assert [n for n, c in names.items() if c > 1] == []

"""The package's layers, held by its imports (DEVELOPERS.md, "The shape").

Dependencies point one way::

    demo                       (builds a whole archive: may use everything)
    widgets   cli              (the UI and the `nora` command)
    assist                     (the ROI assistant: imaging + segment models)
    server                     (the Jupyter server extension: never loads a widget)
    segment                    (segmentation models: train, apply, evaluate)
    batch     reading          (pipelines; the reading tool)
    archive   testing          (the archive: DICOM, PACS, schema; test services)
    imaging                    (pure numpy/scipy)
    errors _lazy config _asyncio display   (used by every layer)

Every ``import`` and ``from … import`` of a ``nora_lab`` module — at module level,
inside functions and under ``TYPE_CHECKING`` alike — is read from the source with
:mod:`ast` and checked against :data:`MAY_IMPORT`. Names resolved from strings at run time
(the lazy ``__getattr__`` of a package, the deprecated aliases of moved names, the `nora`
command's layer CLIs, entry points) are not imports and are not held here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nora_lab"

#: modules every layer may use
BASE = {"nora_lab", "errors", "_lazy", "config", "_asyncio", "display"}

#: layer -> the layers (besides itself and BASE) it may import
MAY_IMPORT: dict[str, set[str]] = {
    "errors": set(),
    "_lazy": set(),
    "_asyncio": set(),
    "config": set(),
    "display": set(),
    "imaging": set(),
    "archive": set(),
    "testing": {"archive"},
    "reading": {"archive", "imaging"},
    "batch": {"archive", "imaging"},
    "segment": {"archive", "batch", "reading", "imaging"},
    "server": {"archive", "batch", "reading", "imaging"},
    "assist": {"imaging", "segment"},
    "widgets": {"server.links", "archive", "batch", "reading", "imaging", "assist"},
    "cli": {"archive", "batch", "reading", "imaging"},
    "demo": {"archive", "batch", "reading", "imaging", "widgets", "testing"},
}
#: base modules use only these of ours
BASE_MAY_IMPORT = {"errors": set(), "_lazy": set(), "_asyncio": set(), "config": {"errors"},
                   "display": {"errors"}}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, int]]:
    """(imported nora_lab module, line) for every import statement of ``path``."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.startswith("nora_lab")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "nora_lab":  # `from nora_lab import config`: the submodule
                out += [(f"nora_lab.{a.name}" if (PACKAGE / f"{a.name}.py").exists() or
                         (PACKAGE / a.name).is_dir() else "nora_lab", node.lineno)
                        for a in node.names]
            elif target.startswith("nora_lab"):
                out.append((target, node.lineno))
    return out


def _layer(module: str) -> str:
    parts = module.split(".")
    return "nora_lab" if len(parts) == 1 else parts[1].removesuffix(".py")


def _allowed(src: str, dst_module: str) -> bool:
    src_layer, dst_layer = _layer(src), _layer(dst_module)
    if src_layer == "nora_lab":  # the top-level facade: nora_lab.Archive, nora_lab.desktop
        return True
    if src_layer in BASE_MAY_IMPORT:
        return dst_layer in BASE_MAY_IMPORT[src_layer] | {src_layer, "nora_lab"}
    if dst_layer == src_layer or dst_layer in BASE:
        return True
    allowed = MAY_IMPORT[src_layer]
    return dst_layer in allowed or any(
        dst_module == f"nora_lab.{a}" or dst_module.startswith(f"nora_lab.{a}.")
        for a in allowed if "." in a)


def _violations(paths: list[Path]) -> list[str]:
    bad = []
    for path in paths:
        src = _module_name(path)
        for dst, line in _imports(path):
            if not _allowed(src, dst):
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {src} imports {dst}")
    return bad


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_layer():
    layers = {_layer(_module_name(p)) for p in SOURCES}
    assert layers - set(MAY_IMPORT) - {"nora_lab"} == set()


def test_imports_point_down_the_layers():
    assert _violations(SOURCES) == []


@pytest.mark.parametrize(("source", "line", "why"), [
    ("archive/pacs/scp.py", "from nora_lab.batch import on_study_imported",
     "the archive registering the batch layer's hook"),
    ("reading/session.py", "from nora_lab.widgets.autoloader import Autoloader",
     "the reading tool reaching for a widget"),
    ("archive/migrations/v009.py", "from nora_lab.reading._tables import reading_results",
     "a migration that needs a feature package"),
    ("server/links.py", "from nora_lab.widgets import Viewer",
     "the server extension loading a widget"),
    ("archive/pacs/peers.py", "from nora_lab.testing import free_port",
     "test infrastructure inside the archive"),
    ("imaging/roi.py", "from nora_lab.archive import Project", "imaging using our archive"),
])
def test_the_check_finds_each_kind_of_wrong_import(tmp_path, monkeypatch, source, line, why):
    """The check can fail: each import this issue removed is reported when put back."""
    fake = tmp_path / "nora_lab" / source
    fake.parent.mkdir(parents=True)
    fake.write_text(f"{line}\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", tmp_path / "nora_lab")
    assert len(_violations([fake])) == 1, why


def test_reading_writes_through_no_private_engine():
    """The reading tool keeps its rows through the archive's public transactions."""
    offenders = [f"{p.relative_to(PACKAGE.parent)}:{n}" for p in SOURCES
                 if _layer(_module_name(p)) not in ("archive",)
                 for n, text in enumerate(p.read_text().splitlines(), 1)
                 if "._engine" in text or "archive import _db" in text or "archive._db" in text]
    assert offenders == []


def test_migrations_create_frozen_tables_not_todays():
    """A migration's DDL is the table as it was at its version, on a metadata of its own."""
    from nora_lab.archive import _schema
    from nora_lab.archive.migrations import v002_dicom, v003_reading

    for table in (v002_dicom.DICOM_INSTANCES_V2, v003_reading.READING_RESULTS_V3):
        assert table.metadata is not _schema.metadata
        assert table.name in _schema.metadata.tables  # today's table, for new archives
    assert "pixels" not in v002_dicom.DICOM_INSTANCES_V2.c  # added by v004, not by v002

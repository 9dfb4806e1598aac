"""One error tree: every exception nora_lab raises to its users is a NoraError, drawn in
``nora_lab/errors.py``'s docstring, and specific (never the bare root)."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import nora_lab.errors as errors
from nora_lab.errors import NoraError

PACKAGE = Path(errors.__file__).parent

#: exceptions that never leave their subsystem: raised and caught inside it
INTERNAL = {
    "nora_lab.cli._Usage": "bad usage, printed by main() as one line, exit 2",
    "nora_lab.archive.dicom._elements.Odd": "the header walker hands the file to pydicom",
    "nora_lab.archive.dicom._archive.ImportedMeanwhile": "an import lost a race: reported",
    "nora_lab.archive.pacs._dimse.ProtocolError": "the acceptor aborts the association",
    "nora_lab.archive.pacs._header.HeaderError": "the node refuses the instance (a status)",
    # TODO(security issue): nora_lab/testing/postgres.py is being changed by its owner;
    # ServiceError (a test service that cannot start) should join the tree there
    "nora_lab.testing.postgres.ServiceError": "test infrastructure (RuntimeError)",
}
_TREE = errors.__doc__.split("The tree::", 1)[1].split("\n\n", 2)[1]
#: the class names drawn in the tree (the first word after each branch, and the root)
DOCUMENTED = set(re.findall(r"(?:── |^    )([A-Z]\w+)", _TREE, re.M))


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _exception_classes() -> dict[str, type[BaseException]]:
    """``module.Class`` → class, for every exception class defined in nora_lab's source."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        names = [n.name for n in tree.body if isinstance(n, ast.ClassDef) and n.bases]
        candidates = [n for n in names if re.search(r"Error|Exception|Rejected|Lost|Denied|"
                                                    r"Timeout|Usage|Odd|Meanwhile|Unavailable", n)]
        if not candidates:
            continue
        module = importlib.import_module(_module(path))
        for name in candidates:
            cls = getattr(module, name)
            if isinstance(cls, type) and issubclass(cls, BaseException) and \
                    cls.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = cls
    return found


CLASSES = _exception_classes()


def test_the_search_finds_the_exceptions():
    assert "nora_lab.errors.NoraError" in CLASSES and "nora_lab.server.hubapi.HubError" in CLASSES
    assert len(CLASSES) >= 20


@pytest.mark.parametrize("name", sorted(set(CLASSES) - set(INTERNAL)))
def test_every_exception_is_a_nora_error_in_the_documented_tree(name):
    cls = CLASSES[name]
    assert issubclass(cls, NoraError), f"{name} is not a NoraError"
    assert cls.__name__ in DOCUMENTED, f"{name} is missing from errors.py's tree"


def test_the_tree_lists_only_real_classes_and_errors_exports_them():
    listed = DOCUMENTED - {"HubError"}  # defined by the hub client (nora_lab.server.hubapi)
    assert listed == set(errors.__all__)
    assert {c.__name__ for c in CLASSES.values() if issubclass(c, NoraError)} == DOCUMENTED


def test_internal_exceptions_exist_and_are_caught_where_raised():
    for name in INTERNAL:
        assert name in CLASSES, f"INTERNAL names {name}, which no longer exists"


def _raises(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            func = node.exc.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            out.append((node.lineno, name))
    return out


def test_nothing_raises_the_bare_root():
    bare = [f"{p.relative_to(PACKAGE.parent)}:{line}" for p in PACKAGE.rglob("*.py")
            for line, name in _raises(p) if name == "NoraError"]
    assert bare == []


@pytest.mark.parametrize(("module", "builtins"), [
    ("archive/job_states.py", {"ValueError", "TypeError", "KeyError"}),
    ("archive/layout.py", {"FileExistsError", "ValueError"}),
    ("batch/run.py", {"TimeoutError", "ValueError"}),
    ("batch/debugging.py", {"TypeError", "ValueError"}),
    ("archive/dicom/_compress.py", {"ValueError"}),
])
def test_no_builtin_reaches_users_from(module, builtins):
    assert [line for line, name in _raises(PACKAGE / module) if name in builtins] == []


def test_compatible_bases_are_kept():
    """Code that caught the built-in keeps working."""
    assert issubclass(errors.BatchTimeout, TimeoutError)
    assert issubclass(errors.FilterSyntaxError, ValueError)
    assert errors.LinkError("x", 404).status == 404
    assert errors.UploadRejected("x", 413).status == 413
    from nora_lab.batch.runner import JobLost
    from nora_lab.server.links import LinkError
    from nora_lab.server.uploads import UploadRejected

    assert (JobLost, LinkError, UploadRejected) == (errors.JobLost, errors.LinkError,
                                                     errors.UploadRejected)

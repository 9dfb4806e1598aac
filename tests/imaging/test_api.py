"""The package contract: a short public API, nothing else of nora_lab imported, small modules."""

import ast
import subprocess
import sys
from pathlib import Path

import nora_lab.imaging as imaging

PKG = Path(imaging.__file__).parent


def test_every_public_name_exists_and_is_documented():
    for name in imaging.__all__:
        obj = getattr(imaging, name)
        assert obj.__doc__, f"{name} has no docstring"


def test_imaging_imports_nothing_of_nora_lab_but_errors_and_the_lazy_helper():
    for path in PKG.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            else:
                continue
            for m in mods:
                assert not m.startswith("nora_lab") or m in ("nora_lab.errors", "nora_lab._lazy"), \
                    f"{path.name} imports {m}"


def test_importing_loads_no_other_layer():
    code = ("import sys, nora_lab.imaging; "
            "print(sorted(m for m in sys.modules if m.startswith('nora_lab') "
            "and not m.startswith('nora_lab.imaging')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['nora_lab', 'nora_lab._lazy', 'nora_lab.errors']"


def test_importing_loads_no_submodule_and_the_old_generic_names_warn():
    import warnings

    code = ("import sys, nora_lab.imaging; "
            "print(sorted(m for m in sys.modules if m.startswith('nora_lab.imaging.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
    renamed = {"keep": "keep_streamlines", "delete": "delete_streamlines",
               "track": "track_streamlines", "clear": "clear_roi"}
    for old, new in renamed.items():
        assert old not in imaging.__all__ and new in imaging.__all__
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert getattr(imaging, old) is getattr(imaging, new)
        assert [w.category for w in caught] == [DeprecationWarning], old
        assert new in str(caught[0].message)


def test_modules_stay_small():
    for path in PKG.glob("*.py"):
        n = len(path.read_text().splitlines())
        assert n <= 400, f"{path.name} has {n} lines"

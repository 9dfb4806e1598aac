"""Names a package exports but imports only on first use (as SPEC 1 / ``lazy_loader``).

Each package's ``__init__`` lists where its public names live and stays cheap to import:

>>> __getattr__, __dir__ = lazy_names(__name__, {"Viewer": "viewer"}, __all__)  # doctest: +SKIP

A name is looked up once, then kept in the package's namespace.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(package: str, where: Mapping[str, str], names: Iterable[str]
               ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` for ``package``.

    Parameters
    ----------
    package
        The package's ``__name__``.
    where
        Public name → the module defining it: a submodule of ``package`` (``"viewer"``)
        or an absolute module name (``"nora_lab.widgets.desk"``).
    names
        What ``dir(package)`` lists (its ``__all__``).
    """
    listed = sorted(names)

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        full = module if module.startswith("nora_lab.") else f"{package}.{module}"
        value = getattr(importlib.import_module(full), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return listed

    return __getattr__, __dir__

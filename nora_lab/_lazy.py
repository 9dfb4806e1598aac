"""Names a package exports but imports only on first use (as SPEC 1 / ``lazy_loader``),
and old names kept for a while, with a :class:`DeprecationWarning`.

Each package's ``__init__`` lists where its public names live and stays cheap to import:

>>> __getattr__, __dir__ = lazy_names(__name__, {"Viewer": "viewer"}, __all__)  # doctest: +SKIP

A name is looked up once, then kept in the package's namespace. A renamed or moved name
stays reachable under its old name:

>>> __getattr__, __dir__ = lazy_names(                                  # doctest: +SKIP
...     __name__, {}, __all__, deprecated={"keep": "nora_lab.imaging.fibers:keep_streamlines"})
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_names", "deprecated_names"]


def _module_name(package: str, module: str) -> str:
    """``module`` as an absolute name: itself, a submodule of ``package``, or ``package``
    itself when empty."""
    if module.startswith("nora_lab."):
        return module
    return f"{package}.{module}" if module else package


def _resolve(package: str, module: str, name: str) -> Any:
    return getattr(importlib.import_module(_module_name(package, module)), name)


def lazy_names(package: str, where: Mapping[str, str], names: Iterable[str], *,
               deprecated: Mapping[str, str] | None = None
               ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` for ``package``.

    Parameters
    ----------
    package
        The package's (or module's) ``__name__``.
    where
        Public name → the module defining it: a submodule of ``package`` (``"viewer"``)
        or an absolute module name (``"nora_lab.widgets.desk"``).
    names
        What ``dir(package)`` lists (its ``__all__``).
    deprecated
        Old name → ``"module:new_name"`` (module as in ``where``; empty: ``package``
        itself). Reading an old name
        warns with :class:`DeprecationWarning`, naming the new one, and gives its value;
        old names are not listed by ``dir``.
    """
    listed = sorted(names)
    old = _deprecated_getattr(package, deprecated or {})

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            return old(name)
        value = _resolve(package, module, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return listed

    return __getattr__, __dir__


def deprecated_names(module: str, renamed: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving only old names (see ``deprecated`` of
    :func:`lazy_names`), for a module whose own names are defined in it."""
    return _deprecated_getattr(module, renamed)


def _deprecated_getattr(package: str, renamed: Mapping[str, str]) -> Callable[[str], Any]:
    def __getattr__(name: str) -> Any:
        target = renamed.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, new = target.partition(":")
        full = _module_name(package, module)
        warnings.warn(f"{package}.{name} is deprecated; use {full}.{new}",
                      DeprecationWarning, stacklevel=2)
        return _resolve(package, module, new)

    return __getattr__

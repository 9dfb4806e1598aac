"""Built-in jobs: Python callables registered by name.

>>> @register_job("brain_volume", args={"mask": "FILE", "out": "OUT"})
... def brain_volume(mask: str, out: str, threshold: float = 0.5) -> None:
...     ...
>>> get_job("brain_volume").params["threshold"]
('NUMERIC', False, ())

A job of a batch names a registered job (``Job.builtin("brain_volume", mask=...)``);
each argument arrives resolved: FILE as an absolute path (``FILE+``: a list of paths),
OUT/PATHOUT as an absolute path, NUMERIC/STRING/LOGICAL/OPTION as values. The callable
runs in its own process with the study's environment (``$NORA_PSID`` …); what it prints
goes to the study's log; an exception fails the study.

Argument types come from ``args`` (``"FILE"``, ``"FILE+"``, ``"OUT"``, ``"PATHOUT"``,
``"NUMERIC"``, ``"STRING"``, ``"LOGICAL"``, ``"OPTION(a|b)"``); a parameter not named
there takes its type from its default value (bool, number, str).

Layers that ship jobs register them when imported; :data:`PROVIDERS` lists the modules
imported on the first unknown name, with the modules that installed packages name in the
entry-point group ``nora_lab.jobs`` (how ``nora_lab.segment`` ships ``segment_apply``
without batch knowing of it) — the processing catalogue
(:mod:`nora_lab.batch.catalogue`: N4, registration, brain extraction, tissue
segmentation, reslicing, ROI statistics, diffusion).
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nora_lab.batch.catalogue import MODULES as CATALOGUE_MODULES
from nora_lab.errors import BatchError

__all__ = ["register_job", "get_job", "registered_jobs", "Registered", "PROVIDERS", "parse_spec"]

#: modules that register jobs when imported (tried when a name is unknown): the catalogue's
PROVIDERS: tuple[str, ...] = CATALOGUE_MODULES
#: the entry-point group whose values are modules that register jobs when imported
ENTRY_POINTS = "nora_lab.jobs"

_REGISTRY: dict[str, Registered] = {}
_SPEC = re.compile(r"^(FILE\+?|OUT|PATHOUT|NUMERIC|STRING|LOGICAL|OPTION(?:\((.*)\))?)$")


def parse_spec(spec: str) -> tuple[str, bool, tuple[str, ...]]:
    """``"FILE+"`` → ``("FILE", True, ())``; ``"OPTION(a|b)"`` → ``("OPTION", False, ("a", "b"))``."""
    m = _SPEC.match(str(spec).strip())
    if not m:
        raise BatchError(f"argument type {spec!r}: expected one of FILE, FILE+ (several files), "
                         "OUT, PATHOUT, NUMERIC, STRING, LOGICAL or OPTION(a|b|c)")
    text = m.group(1)
    if text.startswith("OPTION"):
        opts = tuple(o.strip() for o in (m.group(2) or "").split("|") if o.strip())
        return "OPTION", False, opts
    return text.rstrip("+"), text == "FILE+", ()


@dataclass(frozen=True)
class Registered:
    """A registered job: its callable and its typed parameters."""

    name: str
    func: Callable[..., Any]
    params: dict[str, tuple[str, bool, tuple[str, ...]]]
    defaults: dict[str, Any] = field(default_factory=dict)
    description: str = ""


def _kind_of_default(value: Any) -> str | None:
    if isinstance(value, bool):
        return "LOGICAL"
    if isinstance(value, (int, float)):
        return "NUMERIC"
    if isinstance(value, str):
        return "STRING"
    return None


def _build(name: str, func: Callable[..., Any], args: Mapping[str, str],
           description: str | None) -> Registered:
    sig = inspect.signature(func)
    params: dict[str, tuple[str, bool, tuple[str, ...]]] = {}
    defaults: dict[str, Any] = {}
    unknown = set(args) - set(sig.parameters)
    if unknown:
        raise BatchError(f"register_job({name!r}): args names {', '.join(sorted(unknown))}, "
                         f"which {func.__qualname__} does not take")
    for pname, p in sig.parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is not p.empty:
            defaults[pname] = p.default
        if pname in args:
            params[pname] = parse_spec(args[pname])
            continue
        kind = _kind_of_default(p.default) if p.default is not p.empty else None
        if kind is None:
            raise BatchError(f"register_job({name!r}): give the type of parameter {pname!r} "
                             f"of {func.__qualname__}, e.g. args={{{pname!r}: 'FILE'}}")
        params[pname] = (kind, False, ())
    doc = description if description is not None else (inspect.getdoc(func) or "").split("\n")[0]
    return Registered(name, func, params, defaults, doc)


def register_job(name: str | Callable[..., Any] | None = None,
                 func: Callable[..., Any] | None = None, *,
                 args: Mapping[str, str] | None = None,
                 description: str | None = None) -> Any:
    """Register a callable as a built-in job; usable as a decorator.

    Parameters
    ----------
    name
        The job's name in batches (default: the function's name).
    func
        The callable (omit to use as a decorator).
    args
        ``{parameter: type}``; see the module docstring.
    description
        One line shown in job lists (default: the docstring's first line).

    Returns
    -------
    The callable itself (so decorating leaves the function usable).
    """
    if callable(name) and func is None:
        func, name = name, None

    def deco(f: Callable[..., Any]) -> Callable[..., Any]:
        jname = name or f.__name__
        _REGISTRY[jname] = _build(jname, f, args or {}, description)
        return f

    return deco(func) if func is not None else deco


def get_job(name: str) -> Registered:
    """The registered job called ``name``.

    Raises
    ------
    BatchError
        If no job of that name is registered (the message lists those that are).
    """
    if name not in _REGISTRY:
        _import_providers()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none yet"
        raise BatchError(f"no registered job {name!r} (registered: {known}); register it with "
                         "nora_lab.batch.register_job before launching") from None


def registered_jobs() -> dict[str, Registered]:
    """All registered jobs by name."""
    _import_providers()
    return dict(_REGISTRY)


def _import_providers() -> None:
    """Import the catalogue and every module named in the ``nora_lab.jobs`` entry points."""
    from importlib.metadata import entry_points

    for mod in PROVIDERS:
        importlib.import_module(mod)
    for ep in entry_points(group=ENTRY_POINTS):
        importlib.import_module(ep.value.split(":")[0])

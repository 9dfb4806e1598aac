"""Typed job arguments, as in NORA: FILE, OUT, PATHOUT, NUMERIC, STRING, LOGICAL, OPTION.

>>> Arg.file("t1*/s0__.nii")
Arg(kind='FILE', value='t1*/s0__.nii', study=None, tags=(), options=(), many=True)
>>> Arg.out("results/brain.nii TAG(brain,bet)").tags
('brain', 'bet')

``study`` is a *study reference*: which of the subject's studies a FILE/OUT refers to.
``None`` means the current study (study-level batches) or every study of the subject
(subject-level). Otherwise it is an optional ``first``/``last``/``all`` (by study date)
followed by a filter-bar condition on the subject's studies: plain words match the study
description, and ``SDESC:``, ``STAG:``, ``FTAG:``, ``JOB:`` work as in the filter bars —
``"last SDESC:CT"``, ``"STAG:baseline"``, ``"first"``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any

from nora_lab.archive.patterns import FilePattern, check_relpath
from nora_lab.errors import BatchError, NoraError

__all__ = ["Arg", "KINDS", "study_reference"]

KINDS = ("FILE", "OUT", "PATHOUT", "NUMERIC", "STRING", "LOGICAL", "OPTION")
_TAG = re.compile(r"^(.*?)\s*\bTAG\(([^)]*)\)\s*$", re.DOTALL)
_PICKS = ("first", "last", "all")


def _split_tags(text: str) -> tuple[str, tuple[str, ...]]:
    m = _TAG.match(text)
    if not m:
        return text.strip(), ()
    return m.group(1).strip(), tuple(g.strip() for g in m.group(2).split(",") if g.strip())


@dataclass(frozen=True)
class Arg:
    """One argument of a job.

    Parameters
    ----------
    kind
        One of :data:`KINDS`.
    value
        FILE: a file pattern; OUT/PATHOUT: a name inside the study (no wildcards);
        NUMERIC: a number; STRING: text; LOGICAL: a bool; OPTION: one of ``options``.
    study
        A study reference (see the module docstring); FILE/OUT/PATHOUT only.
    tags
        OUT/PATHOUT: tags given to the outputs when they are registered.
    options
        OPTION: the allowed values.
    many
        FILE: may the pattern match several files (a list), or exactly one?
    """

    kind: str
    value: Any = None
    study: str | None = None
    tags: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    many: bool = True

    # --- constructors ----------------------------------------------------------------
    @classmethod
    def file(cls, pattern: str, *, study: str | None = None, many: bool = True) -> Arg:
        return cls("FILE", pattern, study=study, many=many)

    @classmethod
    def out(cls, name: str, *, tags: tuple[str, ...] | list[str] = (),
            study: str | None = None) -> Arg:
        """An output file; ``"name TAG(a,b)"`` gives tags as NORA's OUT field does."""
        name, more = _split_tags(str(name))
        return cls("OUT", name, study=study, tags=tuple(tags) + more)

    @classmethod
    def pathout(cls, name: str, *, tags: tuple[str, ...] | list[str] = (),
                study: str | None = None) -> Arg:
        name, more = _split_tags(str(name))
        return cls("PATHOUT", name, study=study, tags=tuple(tags) + more)

    @classmethod
    def numeric(cls, value: float) -> Arg:
        return cls("NUMERIC", value)

    @classmethod
    def string(cls, value: str) -> Arg:
        return cls("STRING", value)

    @classmethod
    def logical(cls, value: bool) -> Arg:
        return cls("LOGICAL", value)

    @classmethod
    def option(cls, value: str, options: tuple[str, ...] | list[str]) -> Arg:
        return cls("OPTION", value, options=tuple(options))

    @classmethod
    def of(cls, value: Any, kind: str, *, many: bool = True,
           options: tuple[str, ...] = ()) -> Arg:
        """Coerce a shorthand value (or an :class:`Arg`, or its dict form) to ``kind``."""
        if isinstance(value, dict):
            value = cls.from_dict(value, kind=kind)
        if isinstance(value, Arg):
            if value.kind != kind:
                raise BatchError(
                    f"expected a {kind} argument, got a {value.kind} one ({value.value!r})")
            return value
        if kind in ("OUT", "PATHOUT"):
            arg = cls.out(value) if kind == "OUT" else cls.pathout(value)
            return arg
        return cls(kind, value, many=many, options=tuple(options))

    # --- checks ----------------------------------------------------------------------
    def check(self, where: str) -> Arg:
        """Validate the value for its kind; return the argument (numbers normalized).

        Raises
        ------
        BatchError
            Naming ``where`` (job and argument) and what is wrong.
        """
        k, v = self.kind, self.value
        if k not in KINDS:
            raise BatchError(
                f"{where}: unknown argument type {k!r} (expected one of {', '.join(KINDS)})")
        if self.study is not None and k not in ("FILE", "OUT", "PATHOUT"):
            raise BatchError(f"{where}: a study reference only applies to FILE, OUT and PATHOUT")
        if self.study is not None:
            study_reference(self.study, where)
        try:
            if k == "FILE":
                if not isinstance(v, str) or not v.strip():
                    raise BatchError(f"{where}: FILE needs a file pattern such as 't1*/s0__.nii'")
                FilePattern(v)
            elif k in ("OUT", "PATHOUT"):
                if not isinstance(v, str):
                    raise BatchError(
                        f"{where}: {k} needs a name inside the study, e.g. 'results/out.nii'")
                if "*" in v:
                    raise BatchError(
                        f"{where}: {k} {v!r}: wildcards are not allowed in output names")
                check_relpath(v, what=f"{k} name")
            elif k == "NUMERIC":
                v = _number(v, where)
            elif k == "STRING":
                if v is None:
                    raise BatchError(f"{where}: STRING needs a value")
                v = str(v)
            elif k == "LOGICAL":
                v = _logical(v, where)
            elif k == "OPTION":
                if not self.options:
                    raise BatchError(f"{where}: OPTION needs its list of options")
                if str(v) not in self.options:
                    raise BatchError(
                        f"{where}: option {v!r} is not one of {', '.join(self.options)}")
                v = str(v)
        except BatchError:
            raise
        except NoraError as exc:  # an unsafe name, a malformed pattern
            raise BatchError(f"{where}: {exc}") from exc
        return replace(self, value=v)

    # --- JSON ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.kind, "value": self.value}
        if self.study is not None:
            d["study"] = self.study
        if self.tags:
            d["tags"] = list(self.tags)
        if self.options:
            d["options"] = list(self.options)
        if self.kind == "FILE" and not self.many:
            d["many"] = False
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, kind: str | None = None) -> Arg:
        d = dict(d)
        k = str(d.pop("type", None) or kind or "")
        if kind and k != kind:
            raise BatchError(f"argument {d!r}: type {k!r} where {kind} was expected")
        unknown = set(d) - {"value", "study", "tags", "options", "many"}
        if unknown:
            raise BatchError(f"argument of type {k}: unknown key(s) {', '.join(sorted(unknown))} "
                             "(allowed: type, value, study, tags, options, many)")
        value = d.get("value")
        tags: tuple[str, ...] = tuple(d.get("tags") or ())
        if k in ("OUT", "PATHOUT") and isinstance(value, str):
            value, more = _split_tags(value)
            tags += more
        return cls(k, value, study=d.get("study"), tags=tags,
                   options=tuple(d.get("options") or ()), many=bool(d.get("many", True)))


def _number(v: Any, where: str) -> int | float:
    try:
        if isinstance(v, bool):
            raise ValueError
        if isinstance(v, (int, float)):
            num = v
        else:
            text = str(v).strip()
            num = int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else float(text)
        if isinstance(num, float) and not math.isfinite(num):
            raise ValueError
    except (TypeError, ValueError):
        raise BatchError(f"{where}: NUMERIC value {v!r} is not a number") from None
    return num


def _logical(v: Any, where: str) -> bool:
    if isinstance(v, bool):
        return v
    text = str(v).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise BatchError(f"{where}: LOGICAL value {v!r}: expected true or false")


def study_reference(text: str, where: str = "study reference") -> tuple[str, str]:
    """Split a study reference into (pick, filter text).

    ``"last SDESC:CT"`` → ``("last", "SDESC:CT")``.
    """
    from nora_lab.archive.filters import parse

    words = str(text).strip().split(None, 1)
    pick = ""
    if words and words[0].lower() in _PICKS:
        pick, words = words[0].lower(), words[1:]
    rest = words[0] if words else ""
    try:
        parse(rest)
    except NoraError as exc:
        raise BatchError(f"{where}: study reference {text!r}: {exc}") from exc
    return pick, rest

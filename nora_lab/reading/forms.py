"""Reading forms in JSON: the items a reader answers for each case.

A form is ``{"title": ..., "items": [item, ...]}``; an item is::

    {"type": "radio", "name": "lesion", "label": "Lesion present?",
     "options": ["yes", "no"], "required": true, "useastag": 1}

Types: ``radio``, ``select`` (one of ``options``), ``checkbox`` (any of ``options``: a
list), ``text``, ``number`` (``min``/``max``/``step``), ``likert`` (integers
``min``..``max`` with optional ``labels``), ``slider`` (numbers ``min``..``max``,
``step``), and the annotation items ``points`` and ``roi`` (drawn in the viewer, saved as
files in the study; the answer stores their archive path). ``options`` are strings or
``{"value": ..., "label": ...}``. ``"useastag": 1`` on radio/checkbox/select items writes
the chosen value(s) as study tags.

>>> f = Form.from_json({"items": [{"type": "radio", "name": "q", "options": ["a", "b"]}]})
>>> f.clean({"q": "a"})
{'q': 'a'}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nora_lab.errors import ConfigError

__all__ = ["Form", "Item", "ITEM_TYPES", "ANNOTATION_TYPES"]

CHOICE_TYPES = ("radio", "select", "checkbox")
ANNOTATION_TYPES = ("points", "roi")
ITEM_TYPES = (*CHOICE_TYPES, "text", "number", "likert", "slider", *ANNOTATION_TYPES)
#: measurement level of each item type, for the agreement statistics
SCALES = {"radio": "nominal", "select": "nominal", "checkbox": "nominal", "text": "nominal",
          "likert": "ordinal", "number": "interval", "slider": "interval",
          "points": "annotation", "roi": "annotation"}


@dataclass(frozen=True)
class Item:
    """One form item (see the module docstring for the JSON)."""

    type: str
    name: str
    label: str
    options: tuple[tuple[Any, str], ...] = ()
    required: bool = False
    useastag: bool = False
    min: float | None = None
    max: float | None = None
    step: float | None = None
    labels: tuple[str, ...] = ()
    default: Any = None

    @property
    def scale(self) -> str:
        """``nominal``, ``ordinal``, ``interval`` or ``annotation``."""
        return SCALES[self.type]

    @property
    def values(self) -> list[Any]:
        """The allowed values of a choice or Likert item."""
        if self.type == "likert":
            lo, hi = int(self.min or 1), int(self.max or 5)  # set when parsed (1..5 by default)
            return list(range(lo, hi + 1))
        return [v for v, _ in self.options]

    @property
    def blank(self) -> Any:
        """What an input shows before it is answered (a slider sits at its default)."""
        if self.type == "checkbox":
            return []
        if self.type == "slider":
            return self.default if self.default is not None else self.min
        return "" if self.type in ("text", "number") else None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type, "name": self.name, "label": self.label}
        if self.options:
            d["options"] = [{"value": v, "label": lab} for v, lab in self.options]
        for key in ("min", "max", "step", "default"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        if self.labels:
            d["labels"] = list(self.labels)
        if self.required:
            d["required"] = True
        if self.useastag:
            d["useastag"] = 1
        return d


def _item(raw: Any, i: int) -> Item:
    where = f"form item {i}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected an object like "
                          '{"type": "radio", "name": "q1", "options": ["yes", "no"]}')
    typ = raw.get("type")
    if typ not in ITEM_TYPES:
        raise ConfigError(f"{where}: type {typ!r} is not one of {', '.join(ITEM_TYPES)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where} ({typ}): needs a \"name\" (the answer's key)")
    where = f"form item {name!r}"
    opts: list[tuple[Any, str]] = []
    for o in raw.get("options", []):
        if isinstance(o, Mapping):
            if "value" not in o:
                raise ConfigError(f"{where}: option {o!r} has no \"value\"")
            opts.append((o["value"], str(o.get("label", o["value"]))))
        else:
            opts.append((o, str(o)))
    if typ in CHOICE_TYPES and not opts:
        raise ConfigError(f"{where}: a {typ} item needs \"options\"")
    if len({v for v, _ in opts}) != len(opts):
        raise ConfigError(f"{where}: option values repeat")
    if raw.get("useastag") and typ not in CHOICE_TYPES:
        raise ConfigError(f"{where}: \"useastag\" works on radio, select and checkbox items, "
                          f"not {typ}")
    lo, hi = raw.get("min"), raw.get("max")
    if typ == "likert":
        lo, hi = (1 if lo is None else lo), (5 if hi is None else hi)
    if typ == "slider":
        lo, hi = (0 if lo is None else lo), (100 if hi is None else hi)
    if lo is not None and hi is not None and float(lo) >= float(hi):
        raise ConfigError(f"{where}: min {lo} must be below max {hi}")
    labels = tuple(str(x) for x in raw.get("labels", ()))
    if typ == "likert" and labels and len(labels) != int(hi or 5) - int(lo or 1) + 1:
        points = int(hi or 5) - int(lo or 1) + 1
        raise ConfigError(f"{where}: {len(labels)} labels for the {points} "
                          f"points {lo}..{hi}")
    return Item(type=typ, name=name, label=str(raw.get("label", name)), options=tuple(opts),
                required=bool(raw.get("required", False)), useastag=bool(raw.get("useastag")),
                min=None if lo is None else float(lo), max=None if hi is None else float(hi),
                step=None if raw.get("step") is None else float(raw["step"]), labels=labels,
                default=raw.get("default"))


@dataclass(frozen=True)
class Form:
    """A validated reading form."""

    items: tuple[Item, ...]
    title: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any] | list | str) -> Form:
        """Parse a form from JSON text, a dict ``{"items": [...]}`` or a list of items.

        Raises
        ------
        nora_lab.errors.ConfigError
            Naming the item and what is wrong with it.
        """
        if isinstance(obj, str):
            try:
                obj = json.loads(obj)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"form JSON does not parse: {exc}") from None
        if isinstance(obj, list):
            obj = {"items": obj}
        if not isinstance(obj, Mapping) or not isinstance(obj.get("items"), list):
            raise ConfigError('a form is {"title": ..., "items": [...]}')
        items = tuple(_item(raw, i) for i, raw in enumerate(obj["items"]))
        names = [it.name for it in items]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"form items repeat the names {dup}")
        return cls(items=items, title=str(obj.get("title", "")), raw=dict(obj))

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "items": [it.to_json() for it in self.items]}

    def __getitem__(self, name: str) -> Item:
        for it in self.items:
            if it.name == name:
                return it
        raise KeyError(f"form has no item {name!r} (items: {[i.name for i in self.items]})")

    @property
    def questions(self) -> list[Item]:
        """The items answered in the form (not the annotation items)."""
        return [it for it in self.items if it.type not in ANNOTATION_TYPES]

    @property
    def annotations(self) -> list[Item]:
        return [it for it in self.items if it.type in ANNOTATION_TYPES]

    @property
    def tag_items(self) -> list[Item]:
        return [it for it in self.items if it.useastag]

    def clean(self, answers: Mapping[str, Any]) -> dict[str, Any]:
        """Check and normalize a reader's answers to the questions.

        Raises
        ------
        nora_lab.errors.ConfigError
            An unknown item, a value outside the options or range, a missing required answer.
        """
        known = {it.name for it in self.questions}
        extra = sorted(set(answers) - known)
        if extra:
            raise ConfigError(
                f"answers name unknown form items {extra} (form items: {sorted(known)})")
        out: dict[str, Any] = {}
        for it in self.questions:
            v = answers.get(it.name)
            if v is None or v == "" or v == []:
                if it.required:
                    raise ConfigError(f"form item {it.name!r} ({it.label}) must be answered")
                out[it.name] = [] if it.type == "checkbox" else None
                continue
            out[it.name] = _clean_value(it, v)
        return out


def _clean_value(it: Item, v: Any) -> Any:
    bad = f"form item {it.name!r}: {v!r} is not"
    if it.type in ("radio", "select"):
        if v not in it.values:
            raise ConfigError(f"{bad} one of {it.values}")
        return v
    if it.type == "checkbox":
        vals = [v] if isinstance(v, str) or not hasattr(v, "__iter__") else list(v)
        wrong = [x for x in vals if x not in it.values]
        if wrong:
            raise ConfigError(f"{bad} a subset of {it.values}")
        return [x for x in it.values if x in vals]  # option order
    if it.type == "text":
        return str(v)
    try:
        num = float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"{bad} a number") from None
    if (it.min is not None and num < it.min) or (it.max is not None and num > it.max):
        raise ConfigError(f"{bad} within {it.min}..{it.max}")
    if it.type == "likert":
        if num != int(num):
            raise ConfigError(
                f"{bad} an integer point of the scale {it.values[0]}..{it.values[-1]}")
        return int(num)
    return int(num) if num == int(num) and isinstance(v, int) else num

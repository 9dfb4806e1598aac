"""A reading's configuration: NORA's ``reading`` / ``tools`` / ``viewer`` JSON plus a form.

Stored in the project's JSON store as kind ``"reading"``::

    {
      "form": {"items": [...]},                      # see nora_lab.reading.forms
      "reading": {
        "instructions": "markdown text", "links": [{"title": "...", "url": "..."}],
        "mode_training": {"filters": {"files": "STAG:training"}, "random": "none"},
        "mode_serious":  {"filters": {"files": "STAG:serious"}, "random": "idhash",
                          "repetitions": 2},
        "stages": [{"name": "raw", "images": [{"pattern": "*.nii*", "role": "background"}]},
                   {"name": "ai",  "images": [{"pattern": "*.nii*"},
                                              {"pattern": "ai/*.nii*", "role": "mask"}]}],
        "stage_order": "case",                       # or "block": every case at stage 1 first
        "blind": {"metadata": [], "results": "none"},# shown study columns; none|own|all
        "joint": false,                              # true: one shared set of results
        "allowRestartOfTraining": true, "allowRestartOfSerious": false
      },
      "tools": {"studytable": false, "points": true, "roi": true},
      "viewer": {"sortOrder": "psid", "sortDirection": "asc", "layout": "1x3"}
    }

Case selection uses the archive's filter bars (``filters``: ``{column: bar text}``, as
:meth:`Project.studies`), never SQL: NORA's ``SQLCondition`` is refused with the
equivalent filter bar to use. ``random``: ``none`` (viewer.sortOrder/sortDirection),
``full`` (new random order per reader and session), ``idhash`` (a hash of the study ID:
random, but the same for every reader and session). A mode's keys override the
``reading`` part's (e.g. ``random`` or ``repetitions`` set once for both modes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nora_lab.errors import ConfigError

from .forms import Form

__all__ = ["ReadingConfig", "ModeConfig", "Stage", "MODES", "RANDOM", "KEYS"]

MODES = ("training", "serious")
RANDOM = ("none", "full", "idhash")
SORT_ORDERS = ("psid", "date", "created", "subject", "study", "description")
BLIND_METADATA = ("psid", "subject", "study", "date", "description", "tags")

#: Every key a configuration may have, by part (``mode`` is ``reading.mode_training`` and
#: ``reading.mode_serious``); an unknown key in ``reading``, a mode or ``blind`` is refused.
#: ``docs/reading-format.md`` documents each (tests/reading/test_reading_docs.py).
KEYS: dict[str, tuple[str, ...]] = {
    "": ("form", "reading", "tools", "viewer"),
    "reading": ("instructions", "links", "mode_training", "mode_serious", "random",
                "repetitions", "stages", "stage_order", "blind", "joint",
                "allowRestartOfTraining", "allowRestartOfSerious"),
    "mode": ("filters", "random", "repetitions", "SQLCondition"),
    "blind": ("metadata", "results"),
    "stage": ("name", "images"),
    "tools": ("studytable",),
    "viewer": ("sortOrder", "sortDirection", "layout"),
}


def _check_keys(name: str, where: str, part: str, obj: Mapping[str, Any]) -> None:
    unknown = sorted(set(obj) - set(KEYS[part]))
    if unknown:
        raise ConfigError(f"reading {name!r}: unknown key(s) {unknown} in {where}; known: "
                          f"{', '.join(KEYS[part])} (see docs/reading-format.md)")


@dataclass(frozen=True)
class Stage:
    """One stage of a reading: a name and the images shown (file patterns per study)."""

    name: str
    images: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class ModeConfig:
    """Case set and order of one mode (training or serious)."""

    filters: dict[str, str]
    random: str = "none"
    repetitions: int = 1
    allow_restart: bool = False
    enabled: bool = True


@dataclass(frozen=True)
class ReadingConfig:
    """A parsed and validated reading (see the module docstring for the JSON)."""

    name: str
    form: Form
    modes: dict[str, ModeConfig]
    stages: tuple[Stage, ...] = (Stage("default"),)
    stage_order: str = "case"
    sort_order: str = "psid"
    sort_direction: str = "asc"
    blind_metadata: tuple[str, ...] = ()
    blind_results: str = "none"
    joint: bool = False
    instructions: str = ""
    links: tuple[dict[str, str], ...] = ()
    tools: dict[str, Any] = field(default_factory=dict)
    viewer: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, name: str, obj: Mapping[str, Any] | str) -> ReadingConfig:
        """Parse and check a reading configuration.

        Raises
        ------
        nora_lab.errors.ConfigError
            Naming the reading, the key and the fix.
        """
        if isinstance(obj, str):
            try:
                obj = json.loads(obj)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"reading {name!r}: the JSON does not parse: {exc}") from None
        if not isinstance(obj, Mapping):
            raise ConfigError(
                f"reading {name!r}: expected an object with form, reading, tools, viewer")
        _check_keys(name, "the top level", "", obj)
        if "form" not in obj:
            raise ConfigError(f"reading {name!r}: no \"form\"")
        form = Form.from_json(obj["form"])
        r = dict(obj.get("reading") or {})
        _check_keys(name, '"reading"', "reading", r)
        viewer = dict(obj.get("viewer") or {})
        tools = dict(obj.get("tools") or {})
        modes = {m: _mode(name, m, r) for m in MODES}
        if not any(mc.enabled for mc in modes.values()):
            raise ConfigError(f"reading {name!r}: neither mode_training nor mode_serious is set")
        stages = tuple(_stage(name, i, s) for i, s in enumerate(r.get("stages") or [{}]))
        order = viewer.get("sortOrder", "psid")
        if order not in SORT_ORDERS:
            raise ConfigError(
                f"reading {name!r}: viewer.sortOrder {order!r} is not one of {SORT_ORDERS}")
        direction = str(viewer.get("sortDirection", "asc")).lower()
        if direction not in ("asc", "desc"):
            raise ConfigError(
                f"reading {name!r}: viewer.sortDirection {direction!r}: use asc or desc")
        blind = r.get("blind") or {}
        _check_keys(name, "blind", "blind", blind)
        meta = tuple(blind.get("metadata", ()))
        wrong = [m for m in meta if m not in BLIND_METADATA]
        if wrong:
            raise ConfigError(f"reading {name!r}: blind.metadata {wrong}: shown columns are "
                              f"chosen from {BLIND_METADATA}")
        results = blind.get("results", "none")
        if results not in ("none", "own", "all"):
            raise ConfigError(f"reading {name!r}: blind.results {results!r}: use none, own or all")
        stage_order = r.get("stage_order", "case")
        if stage_order not in ("case", "block"):
            raise ConfigError(f"reading {name!r}: stage_order {stage_order!r}: use case or block")
        links = tuple(dict(link) for link in r.get("links", ()))
        if any("url" not in link for link in links):
            raise ConfigError(f"reading {name!r}: every link needs a \"url\" (and a \"title\")")
        return cls(name=name, form=form, modes=modes, stages=stages, stage_order=stage_order,
                   sort_order=order, sort_direction=direction, blind_metadata=meta,
                   blind_results=results, joint=bool(r.get("joint", False)),
                   instructions=str(r.get("instructions", "")), links=links, tools=tools,
                   viewer=viewer, raw=dict(obj))

    def mode(self, mode: str) -> ModeConfig:
        if mode not in MODES:
            raise ConfigError(f"mode {mode!r}: use 'training' or 'serious'")
        mc = self.modes[mode]
        if not mc.enabled:
            raise ConfigError(f"reading {self.name!r} has no mode_{mode}")
        return mc


def _mode(name: str, mode: str, r: Mapping[str, Any]) -> ModeConfig:
    key = f"mode_{mode}"
    m = r.get(key)
    restart = bool(
        r.get("allowRestartOfTraining" if mode == "training" else "allowRestartOfSerious",
                         False))
    if m is None:
        return ModeConfig(filters={}, enabled=False, allow_restart=restart)
    if not isinstance(m, Mapping):
        raise ConfigError(f"reading {name!r}: {key} must be an object like "
                          '{"filters": {"files": "STAG:training"}}')
    _check_keys(name, key, "mode", m)
    merged = {**{k: r[k] for k in ("random", "repetitions") if k in r}, **m}
    if "SQLCondition" in merged:
        raise ConfigError(
            f"reading {name!r}: {key}.SQLCondition is raw SQL, which nora_lab does not run; "
            "select cases with filter bars instead, e.g. "
            "\"filters\": {\"files\": \"STAG:Training\"} for \"STAG LIKE '%Training%'\"")
    filters = merged.get("filters", {})
    if isinstance(filters, str):
        filters = {"files": filters}
    if not isinstance(filters, Mapping):
        raise ConfigError(f"reading {name!r}: {key}.filters must map filter bars to text")
    random = merged.get("random", "none")
    if random not in RANDOM:
        raise ConfigError(f"reading {name!r}: {key}.random {random!r} is not one of {RANDOM}")
    reps = merged.get("repetitions", 1)
    if not isinstance(reps, int) or reps < 1:
        raise ConfigError(
            f"reading {name!r}: {key}.repetitions must be a positive integer, got {reps!r}")
    return ModeConfig(filters=dict(filters), random=random, repetitions=reps, allow_restart=restart)


def _stage(name: str, i: int, s: Any) -> Stage:
    if not isinstance(s, Mapping):
        raise ConfigError(f"reading {name!r}: stage {i} must be an object "
                          '{"name": ..., "images": [{"pattern": ...}]}')
    images = []
    for im in s.get("images", ()):
        im = {"pattern": im} if isinstance(im, str) else dict(im)
        if not im.get("pattern") and not im.get("autoloader"):
            raise ConfigError(f"reading {name!r}: stage {i} image {im!r} needs a \"pattern\"")
        images.append(im)
    return Stage(name=str(s.get("name", f"stage{i + 1}")), images=tuple(images))


#: A starting point for a new reading (the editor's "reading_template" tab).
TEMPLATE: dict[str, Any] = {
    "reading": {
        "instructions": "",
        "links": [],
        "mode_training": {"filters": {"files": "STAG:training"}, "random": "none"},
        "mode_serious": {"filters": {"files": "STAG:serious"}, "random": "idhash",
                         "repetitions": 1},
        "stages": [{"name": "default", "images": [{"pattern": "*.nii*"}]}],
        "blind": {"metadata": [], "results": "none"},
        "joint": False,
        "allowRestartOfTraining": True,
        "allowRestartOfSerious": False,
    },
    "tools": {"studytable": False},
    "viewer": {"sortOrder": "psid", "sortDirection": "asc", "layout": "1"},
}

"""Autoloader recipes, with no screen: validated, stored in the project, matched to a
study's files.

A recipe says which file patterns go into which viewport with which display settings.
Recipes live in the project's JSON store (kind ``"autoloader"``), so every user of the
project shares them; the JSON format is documented in ``docs/autoloader-format.md``, and
:meth:`Recipe.from_dict` validates it, naming the recipe, the item and the fix in its
errors. Showing a recipe's files is the widget's part
(:meth:`nora_lab.widgets.Autoloader.apply`); the reading tool reads recipes here.

Nothing here talks SQL: files are found with
:meth:`Project.files <nora_lab.archive.project.Project.files>`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

from nora_lab import display
from nora_lab.display import check_colormap, check_window, color_rgb, viewports
from nora_lab.errors import ConfigError, NoraError

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.archive.project import Project

__all__ = ["Recipe", "Item", "KIND", "ROLES", "MATCHES"]

#: The JSON-store kind recipes are saved under.
KIND = "autoloader"
FORMAT_VERSION = 1
ROLES = ("auto", "background", "overlay", "mask", "roi", "markers", "surface", "fibers")
MATCHES = ("first", "last", "all")
_ITEM_KEYS = {"pattern", "viewport", "role", "colormap", "window", "opacity", "color",
              "outline", "visible", "frame", "match", "name", "optional"}
_RECIPE_KEYS = {"version", "name", "description", "layout", "items"}


def _fail(recipe: str, where: str, problem: str) -> ConfigError:
    label = f"autoloader {recipe!r}" if recipe else "autoloader"
    return ConfigError(f"{label} {where}: {problem} (see docs/autoloader-format.md)")


@dataclass
class Item:
    """One line of a recipe: a file pattern and how to show what it matches.

    ``pattern`` holds file patterns (archive syntax, e.g. ``"*mprage*/*.nii"``)
    separated by spaces: alternatives tried in order, the first one that matches
    in the study is used.
    """

    pattern: str
    viewport: int | list[int] | str = "all"
    role: str = "auto"
    colormap: str | None = None
    window: list[float] | str | None = None
    opacity: float | None = None
    color: Any = None
    outline: bool = False
    visible: bool = True
    frame: int = 0
    match: str = "first"
    name: str | None = None
    optional: bool = False

    @property
    def alternatives(self) -> list[str]:
        return self.pattern.split()

    def window_for(self) -> tuple[float, float] | None:
        """The (level, width) to open with; None = the image's automatic window."""
        if self.window is None or (isinstance(self.window, str) and
                                   display.preset_for(self.window)[1]["level"] is None):
            return None
        if isinstance(self.window, str):
            p = display.preset_for(self.window)[1]
            return float(p["level"]), float(p["width"])
        return float(self.window[0]), float(self.window[1])

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"pattern": self.pattern}
        defaults = Item(pattern="")
        for key in ("viewport", "role", "colormap", "window", "opacity", "color", "outline",
                    "visible", "frame", "match", "name", "optional"):
            value = getattr(self, key)
            if value != getattr(defaults, key):
                d[key] = copy.deepcopy(value)
        return d


@dataclass
class Recipe:
    """A recipe: which files of a study go into which viewport, and how they look.

    The widget :class:`nora_lab.widgets.Autoloader` is a recipe that can also be
    applied to a viewer.

    Examples
    --------
    >>> qc = Recipe.from_dict({"layout": "1x3", "items": [
    ...     {"pattern": "*mprage*/*.nii *t1*/*.nii", "role": "background", "window": [300, 600]},
    ...     {"pattern": "rois/*.nii", "role": "roi", "match": "all"}]}, name="t1 qc")
    >>> qc.items[0].alternatives
    ['*mprage*/*.nii', '*t1*/*.nii']
    >>> qc.save(proj)                                    # doctest: +SKIP
    >>> found = Recipe.load(proj, "t1 qc").matches(proj, "P001#S1")   # doctest: +SKIP
    """

    items: list[Item] = field(default_factory=list)
    layout: str | None = None
    name: str = ""
    description: str = ""

    # ------------------------------------------------------------ JSON

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any], name: str | None = None) -> Self:
        """Validate a recipe (the JSON stored in the archive).

        Raises
        ------
        nora_lab.errors.ConfigError
            Naming the recipe, the item and what is wrong.
        """
        if name is None:
            name = obj.get("name", "") if isinstance(obj, Mapping) else ""
        name = str(name)
        if not isinstance(obj, Mapping):
            raise _fail(name, "",
                        f"a recipe is a JSON object with 'items', got {type(obj).__name__}")
        unknown = sorted(set(obj) - _RECIPE_KEYS)
        if unknown:
            raise _fail(name, "", f"unknown key(s) {unknown}; a recipe has {sorted(_RECIPE_KEYS)}")
        version = obj.get("version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise _fail(name, "",
                        f"format version {version!r} is not supported (this nora_lab reads "
                        f"{FORMAT_VERSION})")
        layout = obj.get("layout")
        if layout is not None and layout not in display.LAYOUTS:
            raise _fail(name, "layout",
                        f"unknown layout {layout!r}; use one of {list(display.LAYOUTS)}")
        raw = obj.get("items")
        if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)) or not raw:
            raise _fail(name, "items",
                        "a recipe needs a non-empty list 'items' of {pattern, ...} objects")
        items = [cls._item(name, i, it) for i, it in enumerate(raw)]
        return cls(items=items, layout=layout, name=name,
                   description=str(obj.get("description", "")))

    @staticmethod
    def _item(recipe: str, i: int, obj: Any) -> Item:
        where = f"item {i}"
        if not isinstance(obj, Mapping):
            raise _fail(recipe, where, f"expected an object with a 'pattern', got {obj!r}")
        unknown = sorted(set(obj) - _ITEM_KEYS)
        if unknown:
            raise _fail(recipe, where,
                        f"unknown key(s) {unknown}; an item has {sorted(_ITEM_KEYS)}")
        pattern = obj.get("pattern")
        if not isinstance(pattern, str) or not pattern.split():
            raise _fail(recipe, where, "needs a 'pattern', a file pattern such as '*mprage*/*.nii'")
        if ".." in pattern:
            raise _fail(recipe, where, f"pattern {pattern!r} would leave the study folder")
        it = Item(pattern=" ".join(pattern.split()))
        try:
            if "viewport" in obj:
                viewports(obj["viewport"])
                it.viewport = copy.deepcopy(obj["viewport"])
            role = obj.get("role", "auto")
            if role not in ROLES:
                raise ConfigError(f"unknown role {role!r}; use one of {list(ROLES)}")
            it.role = role
            if obj.get("colormap") is not None:
                it.colormap = check_colormap(str(obj["colormap"]), f"item {i}")
            w = obj.get("window")
            if isinstance(w, str):
                try:
                    display.preset_for(w)
                except KeyError:
                    names = [f"{k}={p['name']}" for k, p in display.CT_WINDOW_PRESETS.items()]
                    raise ConfigError(
                        f"unknown window preset {w!r}; use [level, width] or one of {names}"
                    ) from None
                it.window = w
            elif w is not None:
                it.window = check_window(w, f"item {i}")
            if obj.get("opacity") is not None:
                it.opacity = float(obj["opacity"])
                if not 0.0 <= it.opacity <= 1.0:
                    raise ConfigError(f"opacity must be within 0..1, got {obj['opacity']!r}")
            if obj.get("color") is not None:
                color_rgb(obj["color"], f"item {i}")
                it.color = copy.deepcopy(obj["color"])
            for key in ("outline", "visible", "optional"):
                if key in obj:
                    if not isinstance(obj[key], bool):
                        raise ConfigError(f"{key} must be true or false, got {obj[key]!r}")
                    setattr(it, key, obj[key])
            frame = obj.get("frame", 0)
            if not isinstance(frame, int) or isinstance(frame, bool) or frame < 0:
                raise ConfigError(
                    f"frame must be a volume index >= 0 of a 4-D series, got {frame!r}")
            it.frame = frame
            match = obj.get("match", "first")
            if match not in MATCHES:
                raise ConfigError(f"match must be one of {list(MATCHES)}, got {match!r}")
            it.match = match
            if obj.get("name") is not None:
                it.name = str(obj["name"])
        except (NoraError, ValueError, TypeError) as exc:
            raise _fail(recipe, f"{where} ({pattern!r})", str(exc)) from None
        return it

    def to_dict(self) -> dict[str, Any]:
        """The recipe as stored in the archive."""
        d: dict[str, Any] = {"version": FORMAT_VERSION}
        if self.description:
            d["description"] = self.description
        if self.layout is not None:
            d["layout"] = self.layout
        d["items"] = [it.to_dict() for it in self.items]
        return d

    # ------------------------------------------------------------ the archive's JSON store

    def save(self, project: Project, name: str | None = None) -> str:
        """Store the recipe in the project (kind ``"autoloader"``); returns its name."""
        name = name or self.name
        if not name or not name.strip():
            raise ConfigError(
                "an autoloader needs a name to be saved: recipe.save(project, 'qc t1')")
        self.name = name.strip()
        project.put_json(KIND, self.name, self.to_dict())
        return self.name

    @classmethod
    def load(cls, project: Project, name: str) -> Self:
        """A recipe saved in the project (``NotFoundError`` if there is none of that name)."""
        return cls.from_dict(project.get_json(KIND, name), name=name)

    @staticmethod
    def names(project: Project) -> list[str]:
        """Names of the project's saved recipes."""
        df = project.list_json(KIND)
        return [str(n) for n in df["name"]] if len(df) else []

    @staticmethod
    def delete(project: Project, name: str) -> None:
        """Remove a saved recipe from the project."""
        project.delete_json(KIND, name)

    # ------------------------------------------------------------ matching

    def matches(self, project: Project, psid: str) -> list[tuple[Item, list[str], str]]:
        """For each item: the study's matching relpaths (per ``match``) and the pattern used."""
        out = []
        for it in self.items:
            rels: list[str] = []
            used = it.alternatives[0]
            for alt in it.alternatives:
                found = [str(r) for r in project.files(alt, psid=psid)["relpath"]
                         if _fits(it, alt, str(r))]
                if found:
                    rels, used = sorted(found), alt
                    break
            if it.match == "first":
                rels = rels[:1]
            elif it.match == "last":
                rels = rels[-1:]
            out.append((it, rels, used))
        return out


#: folders of a study that hold the tools' files, not images to look at
_TOOL_FOLDERS = ("rois/", "annotations/")


def _fits(it: Item, pattern: str, rel: str) -> bool:
    """Whether a matched file suits the item: JSON sidecars only for point sets, files of
    the tools' folders only when the pattern names that folder."""
    low = rel.lower()
    if low.endswith(".json") and it.role != "markers":
        return False
    for folder in _TOOL_FOLDERS:
        if low.startswith(folder) and not pattern.lower().startswith(folder):
            return False
    return True

"""Display vocabulary, with no screen: CT window presets, layouts, slice types,
colormaps, colours, windows and viewports, and their checks.

The viewer (:mod:`nora_lab.widgets.viewer`), saved autoloader recipes
(:mod:`nora_lab.archive.recipes`) and the reading tool share it; it imports nothing of
nora_lab but its errors, so every layer may use it.

The CT window presets are NORA's keyboard shortcuts ``1``–``6`` and ``0``
(NORA documentation, "Viewer → Keyboard Shortcuts": *1-6,0 shortcuts to
standard CT windowings*). NORA does not list the values; these are the
common radiology settings (level / width in Hounsfield units, as tabulated
e.g. by Radiopaedia's "Windowing (CT)" article):

=====  ===============  =======  =======
key    name             level    width
=====  ===============  =======  =======
``1``  brain               40       80
``2``  subdural            75      215
``3``  stroke              40       40
``4``  bone               400     1800
``5``  lung              -600     1500
``6``  soft tissue         50      400
``0``  auto            robust 2 %–98 % range of the image
=====  ===============  =======  =======

A window is a ``(level, width)`` pair; the displayed intensity range is
``[level - width / 2, level + width / 2]``.
"""

from __future__ import annotations

import difflib
import json
import math
from functools import lru_cache
from importlib import resources
from typing import Any

from nora_lab.errors import ImagingError

__all__ = [
    "CT_WINDOW_PRESETS",
    "LAYOUTS",
    "LAYOUT_VIEWPORTS",
    "SLICE_TYPES",
    "MAX_VIEWPORTS",
    "colormaps",
    "preset_for",
    "color_rgb",
    "check_window",
    "check_colormap",
    "viewports",
]

#: key -> {"name", "level", "width"}; key "0" means the automatic window.
CT_WINDOW_PRESETS: dict[str, dict] = {
    "1": {"name": "brain", "level": 40.0, "width": 80.0},
    "2": {"name": "subdural", "level": 75.0, "width": 215.0},
    "3": {"name": "stroke", "level": 40.0, "width": 40.0},
    "4": {"name": "bone", "level": 400.0, "width": 1800.0},
    "5": {"name": "lung", "level": -600.0, "width": 1500.0},
    "6": {"name": "soft tissue", "level": 50.0, "width": 400.0},
    "0": {"name": "auto", "level": None, "width": None},
}

#: Viewer layouts and the slice type of each of their viewports.
LAYOUT_VIEWPORTS: dict[str, tuple[str, ...]] = {
    "1": ("multiplanar",),
    "1x2": ("axial", "coronal"),
    "1x3": ("axial", "coronal", "sagittal"),
    "2x2": ("axial", "coronal", "sagittal", "render"),
    # three rows of axial | coronal | sagittal: e.g. three images, one per row
    "3x3": ("axial", "coronal", "sagittal") * 3,
    "mosaic": ("mosaic",),
}
LAYOUTS: tuple[str, ...] = tuple(LAYOUT_VIEWPORTS)
SLICE_TYPES: tuple[str, ...] = ("axial", "coronal", "sagittal", "multiplanar", "render", "mosaic")

#: Most viewports any layout has.
MAX_VIEWPORTS = 9


@lru_cache(maxsize=1)
def colormaps() -> tuple[str, ...]:
    """Names of the colormaps the front end (Niivue) knows.

    Read from ``static/colormaps.json``, which the JS build writes from
    Niivue's own colormap table.
    """
    text = resources.files("nora_lab").joinpath("widgets/static/colormaps.json").read_text()
    return tuple(json.loads(text))


def preset_for(key_or_name: str) -> tuple[str, dict]:
    """Find a preset by key (``"1"``) or name (``"bone"``); KeyError otherwise."""
    k = str(key_or_name).strip().lower()
    if k in CT_WINDOW_PRESETS:
        return k, CT_WINDOW_PRESETS[k]
    for key, p in CT_WINDOW_PRESETS.items():
        if p["name"] == k:
            return key, p
    raise KeyError(key_or_name)


_NAMED_COLORS = {
    "red": (255, 0, 0), "green": (0, 200, 0), "blue": (0, 90, 255), "yellow": (255, 230, 0),
    "cyan": (0, 230, 230), "magenta": (255, 0, 255), "orange": (255, 140, 0),
    "white": (255, 255, 255),
}


def color_rgb(value: Any, what: str) -> list[int]:
    """A colour name (``"red"``, ``"yellow"``, ...) or (r, g, b) in 0..255, as a list."""
    if isinstance(value, str):
        if value.lower() not in _NAMED_COLORS:
            raise ImagingError(f"unknown color {value!r} for {what}; use one of "
                               f"{sorted(_NAMED_COLORS)} or (r, g, b)")
        return list(_NAMED_COLORS[value.lower()])
    rgb = [int(round(float(c))) for c in value]
    if len(rgb) != 3 or any(c < 0 or c > 255 for c in rgb):
        raise ImagingError(f"color for {what} must be (r, g, b) in 0..255, got {value!r}")
    return rgb


def check_window(window: Any, what: str) -> list[float]:
    """A window as ``[level, width]`` with a finite level and a positive width."""
    try:
        level, width = (float(x) for x in window)
    except (TypeError, ValueError):
        raise ImagingError(f"window for {what} must be (level, width), got {window!r}") from None
    if not (math.isfinite(level) and math.isfinite(width)) or width <= 0:
        raise ImagingError(f"window for {what} must have a finite level and a width > 0, "
                           f"got {window!r}")
    return [level, width]


def check_colormap(name: str, what: str) -> str:
    """A colormap Niivue knows; the error suggests close names."""
    known = colormaps()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ImagingError(f"unknown colormap {name!r} for {what}{hint}; "
                           f"known: {', '.join(known)}")
    return name


def viewports(viewport: Any) -> list[int]:
    """Normalise ``viewport=``: an index, a list of them, or ``"all"``."""
    import numpy as np

    n = MAX_VIEWPORTS
    wrong = f"viewport must be an index 0..{n - 1}, a list of them or 'all', got {viewport!r}"
    if isinstance(viewport, str):
        if viewport != "all":
            raise ImagingError(wrong)
        return list(range(n))
    vps = [viewport] if isinstance(viewport, (int, np.integer)) else list(viewport)
    if not vps or any(not isinstance(v, (int, np.integer)) or not 0 <= v < n for v in vps):
        raise ImagingError(wrong)
    return sorted({int(v) for v in vps})

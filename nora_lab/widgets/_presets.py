"""Viewer vocabulary: CT window presets, layouts, slice types, colormaps.

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

import json
from functools import lru_cache
from importlib import resources

__all__ = [
    "CT_WINDOW_PRESETS",
    "LAYOUTS",
    "LAYOUT_VIEWPORTS",
    "SLICE_TYPES",
    "colormaps",
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
    "1x3": ("axial", "coronal", "sagittal"),
    "2x2": ("axial", "coronal", "sagittal", "render"),
    "mosaic": ("mosaic",),
}
LAYOUTS: tuple[str, ...] = tuple(LAYOUT_VIEWPORTS)
SLICE_TYPES: tuple[str, ...] = ("axial", "coronal", "sagittal", "multiplanar", "render", "mosaic")

#: Most viewports any layout has.
MAX_VIEWPORTS = 4


@lru_cache(maxsize=1)
def colormaps() -> tuple[str, ...]:
    """Names of the colormaps the front end (Niivue) knows.

    Read from ``static/colormaps.json``, which the JS build writes from
    Niivue's own colormap table.
    """
    text = resources.files("nora_lab.widgets").joinpath("static/colormaps.json").read_text()
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

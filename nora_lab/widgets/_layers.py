"""Layers of the viewer: the JSON spec each one has in ``Viewer.layers``, its
validation, and :class:`Layer`, the handle ``Viewer.open`` returns.

A spec is small JSON (name, role, viewports, colormap, opacity, window, ...);
the voxels, vertices and points travel separately as binary messages
(:mod:`nora_lab.widgets._transfer`).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np

from nora_lab.display import check_colormap, check_window, color_rgb, viewports
from nora_lab.errors import ImagingError

from ._sources import MeshData, TractData, VolumeData

if TYPE_CHECKING:  # pragma: no cover
    from .viewer import Viewer

__all__ = ["Layer", "ROLES", "MESH_ROLES", "MODALITIES", "APPEARANCE", "new_spec",
           "check_changes", "check_window", "effective", "guess_modality", "viewports"]

ROLES = ("background", "overlay", "mask")
MESH_ROLES = {"mesh": "surface", "tract": "fibers"}
DEFAULT_COLORMAP = {"background": "gray", "overlay": "warm"}
#: What ``modality`` a volume layer may have; CT window presets apply only to "CT".
MODALITIES = ("CT", "MR", "PT", "other")
#: Display properties a volume layer may have per viewport (NORA: shift + the viewbar).
APPEARANCE = ("colormap", "window", "opacity")
_ids = itertools.count(1)


def guess_modality(data: VolumeData) -> str:
    """``"CT"`` if the volume looks like Hounsfield units (air at about -1000), else ``"MR"``.

    From at most ~1 M sampled voxels: CT has a low percentile at or below -500 (air
    around the head) and a high one above 0. Pass ``modality=`` to
    :meth:`Viewer.open` where this guess is wrong.
    """
    flat = data.data.ravel(order="K")
    sample = np.asarray(flat[:: max(1, flat.size // 1_000_000)], dtype=np.float64)
    sample = sample[np.isfinite(sample)] * data.slope + data.inter
    if sample.size == 0:
        return "other"
    lo, hi = np.percentile(sample, [1.0, 99.0])
    return "CT" if lo <= -500.0 and hi > 0.0 else "MR"


def check_changes(spec: dict, changes: dict) -> dict:
    """Validate and normalise property changes of an existing layer."""
    name = spec["name"]
    changes = dict(changes)
    if "colormap" in changes:
        if spec["kind"] != "volume" or spec["role"] == "mask":
            raise ImagingError(f"{name} has no colormap (set its color instead)")
        changes["colormap"] = check_colormap(changes["colormap"], name)
    if "opacity" in changes:
        changes["opacity"] = float(changes["opacity"])
        if not 0.0 <= changes["opacity"] <= 1.0:
            raise ImagingError(
                f"opacity for {name} must be within 0..1, got {changes['opacity']!r}")
    if "color" in changes:
        changes["color"] = color_rgb(changes["color"], name)
    if "window" in changes:
        if spec["kind"] != "volume" or spec["role"] == "mask":
            raise ImagingError(f"{name} has no window (only background and overlay volumes do)")
        changes["window"] = check_window(changes["window"], name)
    for key in ("visible", "outline"):
        if key in changes:
            changes[key] = bool(changes[key])
    return changes


def effective(spec: dict, viewport: int) -> dict:
    """The spec as ``viewport`` draws it: its per-viewport appearance over the layer's own."""
    return {**spec, **(spec.get("per_viewport") or {}).get(str(viewport), {})}


def new_spec(
    data: VolumeData | MeshData | TractData, role: str, vps: list[int], *, colormap: str | None,
    opacity: float | None, window: Any, outline: bool, color: Any, visible: bool,
    modality: str | None = None,
) -> dict:
    """The ``layers`` entry (JSON) describing a new layer; validates its display properties.

    A volume's ``open_window`` is the window it opened with (double click returns to it);
    ``modality`` (given, or :func:`guess_modality`) picks the window presets that apply.
    """
    spec: dict[str, Any] = {
        "id": f"L{next(_ids)}", "name": data.name, "kind": data.kind, "role": role,
        "viewports": vps, "version": 1, "nbytes": data.nbytes, "visible": bool(visible),
        "opacity": float(1.0 if opacity is None else opacity), "outline": bool(outline),
        "colormap": "", "color": None, "window": None, "auto_window": None,
        "open_window": None, "modality": "",
        # viewport (as a string: JSON keys) -> {colormap, window, opacity} of that viewport only
        "per_viewport": {},
    }
    if not 0.0 <= spec["opacity"] <= 1.0:
        raise ImagingError(f"opacity for {data.name} must be within 0..1, got {opacity!r}")
    if isinstance(data, VolumeData):
        spec.update(shape=list(data.shape), dtype=str(data.data.dtype),
                    affine=data.affine.ravel().tolist())
        if role == "mask":
            spec["color"] = color_rgb(color if color is not None else "red", data.name)
        else:
            spec["colormap"] = check_colormap(colormap or DEFAULT_COLORMAP[role], data.name)
            spec["auto_window"] = list(data.auto_window())
            spec["window"] = check_window(window,
                                          data.name) if window is not None else spec["auto_window"]
            spec["open_window"] = list(spec["window"])
            if modality is not None and modality not in MODALITIES:
                raise ImagingError(f"unknown modality {modality!r} for {data.name}; use one of "
                                   f"{MODALITIES}")
            spec["modality"] = modality or guess_modality(data)
    elif data.kind == "mesh":
        spec["color"] = color_rgb(color if color is not None else (230, 200, 160), data.name)
    elif color is not None:
        spec["color"] = color_rgb(color, data.name)
    return spec


def _spec_property(name: str) -> property:
    """A property of :class:`Layer` reading and setting one display property of its spec."""

    def get(self: Layer) -> Any:
        return self._spec()[name]

    def set_(self: Layer, value: Any) -> None:
        self._viewer._set_props(self.id, **{name: value})

    return property(get, set_)


class Layer:
    """Handle on one layer of a :class:`Viewer`, returned by :meth:`Viewer.open`.

    Setting ``colormap``, ``opacity``, ``visible``, ``outline``, ``color`` or
    ``window`` updates every viewport that shows the layer (and drops what
    :meth:`Viewer.set_appearance` set for single viewports of that property);
    :meth:`appearance` reads what one viewport draws.
    """

    def __init__(self, viewer: Viewer, layer_id: str):
        self._viewer = viewer
        self.id = layer_id

    def _spec(self) -> dict:
        return self._viewer._spec(self.id)

    name = property(lambda self: self._spec()["name"])
    kind = property(lambda self: self._spec()["kind"])
    role = property(lambda self: self._spec()["role"])
    viewports = property(lambda self: tuple(self._spec()["viewports"]))

    @property
    def data(self) -> VolumeData | MeshData | TractData:
        """The layer's arrays as held by the kernel (what was sent)."""
        return self._viewer._data[self.id]

    @property
    def volume(self) -> VolumeData:
        """The voxels of a volume layer (:class:`ImagingError` for a mesh or tracts)."""
        return self._viewer._volume(self.id)


    colormap = _spec_property("colormap")
    opacity = _spec_property("opacity")
    visible = _spec_property("visible")
    outline = _spec_property("outline")
    color = _spec_property("color")
    window = _spec_property("window")

    def appearance(self, viewport: int) -> dict:
        """Colormap, window and opacity as ``viewport`` draws this layer."""
        eff = effective(self._spec(), int(viewport))
        return {k: eff[k] for k in APPEARANCE}

    def close(self) -> None:
        """Remove the layer from the viewer."""
        self._viewer.close_layer(self.id)

    def __repr__(self) -> str:
        try:
            s = self._spec()
        except KeyError:
            return f"<Layer {self.id} (closed)>"
        return f"<Layer {s['name']!r} {s['kind']} {s['role']} viewports={s['viewports']}>"

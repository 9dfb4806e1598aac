"""The image viewer: NORA's viewports as one Jupyter widget, drawn by Niivue.

Why our own anywidget over ``@niivue/niivue`` rather than ipyniivue
--------------------------------------------------------------------
ipyniivue (2.4) renders well here, but it owns the data path and the
event model: volumes are whole-file ``Bytes`` traits, there is no hook to
send a label map as a bounding-box diff from the kernel, no place for
NORA's key bindings (CT presets on ``1``–``6``/``0``, space = ROI edit),
no shared world crosshair across several independent viewports, and no
"drawn" acknowledgement that a headless test can wait on. Wrapping
``@niivue/niivue`` (npm, bundled by esbuild into ``static/viewer.js``, one
ES module shipped in the package) keeps Niivue as the renderer – we write
no renderer – while this module controls exactly:

* binary transfer: every layer goes as bytes in chunks (see
  :mod:`nora_lab.widgets._transfer`), no JSON, no base64; volumes gzipped
  (a ``.nii.gz`` as stored), inflated by the browser's ``DecompressionStream``;
* ROI masks updated by bounding-box diffs (:meth:`Viewer.update_mask`) and
  pen strokes reported to the kernel (:meth:`Viewer.on_draw`);
* NORA's mouse/keyboard bindings and layouts (1, 1×2, 1×3, 2×2, 3×3, mosaic);
* machine-checkable markers: the front end echoes ``ack`` (= the ``seq`` it
  has drawn) and ``frame``, and writes ``data-frame``/``data-ack`` on the DOM.

Each Viewer's widget state carries only ``static/viewer_loader.js`` (~2 KB): the
first Viewer on a page imports the bundle over HTTP from the Jupyter server
extension (``nora/static/viewer-<hash>.js``, gzipped: 0.8 MB instead of 2.3 MB,
cached by the browser), or, where the page is not that server's, asks its kernel for
it; every later Viewer of that page reuses the imported module. The kernel's
websocket then carries the volumes and little else.

The JS source is ``nora_lab/widgets/js/src/viewer.js``; rebuild the bundle
with ``npm --prefix nora_lab/widgets/js ci && npm --prefix nora_lab/widgets/js run build``
(``js/build.mjs``: esbuild, one ES module, the bundled packages' licences
appended, a hash of the sources in its first line that a test checks). The
build applies one patch to Niivue: its background refresh skips the 3-D
gradient pass unless gradient-lit rendering is on – unused work that was most
of the time to open a large CT on a CPU renderer.

Mouse and keys (as in NORA)
---------------------------
left click: crosshair (world position, shared by all viewports) ·
wheel: slice · ctrl+wheel: zoom · right drag: pan · middle drag: window ·
double click: the window the image opened with · ``1``–``6``: CT window presets
(:data:`nora_lab.display.CT_WINDOW_PRESETS`; CT images only) · ``0``: auto window ·
the toolbar and "?" on the canvas say the same · space: toggle ROI
edit (then left button draws, right erases; strokes go to :meth:`on_draw`) ·
``ctrl+z`` / ``shift+ctrl+z``, arrow up/down: reported to :meth:`on_key`
(the ROI tool undoes/redoes, the desk steps through studies) · a left click
outside ROI edit is reported to :meth:`on_click` · ``s``: layer list · ``x``/``y``:
scroll slower/faster · a local volume file dropped on the viewer is drawn in the page
only (never uploaded; its name lands in :attr:`Viewer.dropped`).
"""

from __future__ import annotations

import gzip
import math
import re
import uuid
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets as t
from ipywidgets import CallbackDispatcher

from nora_lab import display
from nora_lab.errors import ImagingError

from ._events import ClickEvent, DrawEvent, KeyEvent
from ._layers import (
    APPEARANCE,
    MESH_ROLES,
    ROLES,
    Layer,
    check_changes,
    check_window,
    effective,
    new_spec,
    viewports,
)
from ._sources import MeshData, TractData, VolumeData, load, volume_from_array
from ._transfer import DEFAULT_CHUNK_BYTES, gzip_volume, send_payload, stored_gzip

__all__ = ["Viewer", "Layer"]

_STATIC = Path(__file__).parent / "static"
_COMM = object()  # marks ipywidgets' own call of Widget.open()


def _bundle_hash() -> str:
    """The source hash in static/viewer.js's banner (js/build.mjs writes it)."""
    with open(_STATIC / "viewer.js", encoding="utf-8") as fh:
        m = re.search(r"source-sha256: ([0-9a-f]{64})", fh.read(400))
    return m.group(1)[:16] if m else "unbuilt"


@lru_cache(maxsize=1)
def _bundle_gz(digest: str) -> bytes:
    """static/viewer.js gzipped, sent once per page to the loader (``digest`` keys the cache)."""
    return gzip.compress((_STATIC / "viewer.js").read_bytes(), compresslevel=9, mtime=0)


class Viewer(anywidget.AnyWidget):
    """NORA-style image viewer: up to nine viewports, each with a background,
    overlays, masks (ROIs), surfaces and fibers; shared world crosshair.

    Parameters
    ----------
    *sources
        Opened in viewport 0 (the first as background, the others as overlays).
    affine : (4, 4) array_like, optional
        Voxel→world matrix of numpy-array sources (as in :meth:`open`).
    layout : {"1", "1x2", "1x3", "2x2", "3x3", "mosaic"}
        The viewport layout (stored in :attr:`view_layout`; ``layout`` stays
        ipywidgets' CSS ``Layout``, which a non-string ``layout=`` still sets).
        ``"3x3"``: three rows of axial, coronal, sagittal (viewports 0-2, 3-5, 6-8),
        e.g. one image per row with ``open(path, viewport=[3, 4, 5])``.
    height : int
        Height of the viewer in CSS pixels.
    compress : bool
        Send volumes gzip-compressed (default; a ``.nii.gz``/``.mgz`` as stored) for
        the page to inflate natively; False sends raw voxels (see
        :mod:`nora_lab.widgets._transfer`).
    chunk_bytes : int
        Largest binary buffer of one comm message.

    Traits you read and set
    -----------------------
    position : (x, y, z)
        Crosshair in world (scanner RAS) mm, shared by all viewports.
    value : float or None
        Value of the active viewport's background under the crosshair (read only).
    window : (level, width)
        Window of the active viewport's background.
    view_layout, slice_types, mosaic, active_viewport, drawing, height
        Layout, per-viewport slice type, mosaic string (Niivue syntax, e.g.
        ``"A -20 0 20; C 0"``), the viewport keys and windows act on, ROI edit
        mode, height in CSS pixels.
    radiological : bool
        Radiological convention (patient's right on the screen's left);
        default neurological.
    ack, frame
        Written by the front end: the last ``seq`` fully drawn, frames drawn.

    Examples
    --------
    >>> v = Viewer("ct.nii.gz", layout="1x3")          # doctest: +SKIP
    >>> v.open("seg.nii.gz", viewport="all", role="mask", color="red")  # doctest: +SKIP
    >>> v.position = (10.0, -20.0, 35.0); v.window = (40, 80)           # doctest: +SKIP
    """

    # a ~2 KB loader of the 2.3 MB module, once per page: over HTTP from the server extension,
    # else from the kernel (the 'esm' message below)
    _esm = (_STATIC / "viewer_loader.js").read_text().replace("__BUNDLE_HASH__", _bundle_hash())
    _css = _STATIC / "viewer.css"

    view_layout = t.Unicode("1").tag(sync=True)
    slice_types = t.List(t.Unicode(), default_value=["multiplanar"]).tag(sync=True)
    mosaic = t.Unicode("").tag(sync=True)
    height = t.Int(480).tag(sync=True)
    layers = t.List(t.Dict()).tag(sync=True)
    position = t.Tuple(t.Float(), t.Float(), t.Float(),
                       default_value=(0.0, 0.0, 0.0)).tag(sync=True)
    value = t.Float(None, allow_none=True, read_only=True).tag(sync=True)
    window = t.Tuple(t.Float(), t.Float(), default_value=(0.5, 1.0)).tag(sync=True)
    window_presets = t.Dict(display.CT_WINDOW_PRESETS).tag(sync=True)
    _layouts = t.List(t.Unicode(), default_value=list(display.LAYOUTS)).tag(sync=True)
    #: names of local files dropped on the page: drawn there, never uploaded (not synced)
    dropped = t.List(t.Unicode(), read_only=True)
    active_viewport = t.Int(0).tag(sync=True)
    drawing = t.Bool(False).tag(sync=True)
    radiological = t.Bool(False).tag(sync=True)
    draw_target = t.Unicode("").tag(sync=True)
    seq = t.Int(0).tag(sync=True)
    ack = t.Int(-1).tag(sync=True)
    frame = t.Int(0).tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    _uid = t.Unicode().tag(sync=True)

    @t.default("_uid")
    def _default_uid(self) -> str:
        return uuid.uuid4().hex

    def __init__(self, *sources: Any, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                 compress: bool = True, **kwargs: Any):
        self._data: dict[str, VolumeData | MeshData | TractData] = {}
        self._frontend_ready = False
        self._deriving = False
        self._chunk_bytes = int(chunk_bytes)
        self._compress = bool(compress)
        self._draw_handlers = CallbackDispatcher()
        self._click_handlers = CallbackDispatcher()
        self._key_handlers = CallbackDispatcher()
        self.bytes_sent = 0
        affine = kwargs.pop("affine", None)  # of the array sources, not a trait
        if isinstance(kwargs.get("layout"), str):
            kwargs["view_layout"] = kwargs.pop("layout")
        super().__init__(**kwargs)
        if "slice_types" not in kwargs:
            self.slice_types = list(display.LAYOUT_VIEWPORTS[self.view_layout])
        self.on_msg(self._on_frontend_msg)
        for i, src in enumerate(sources):
            self.open(src, viewport="all", role="background" if i == 0 else "overlay",
                      affine=affine)

    # ------------------------------------------------------------ opening layers

    def open(
        self,
        source: Any = _COMM,
        viewport: int | Sequence[int] | str = "all",
        role: str | None = None,
        *,
        affine: Any = None,
        name: str | None = None,
        colormap: str | None = None,
        opacity: float | None = None,
        window: tuple[float, float] | None = None,
        outline: bool = False,
        color: Any = None,
        visible: bool = True,
        modality: str | None = None,
    ) -> Layer:
        """Show ``source`` in one or more viewports.

        Parameters
        ----------
        source
            File path (NIfTI, Analyze, MGH/MGZ, NRRD, GIFTI surface, TCK/TRK
            fibers), nibabel image, GIFTI image, tractogram, numpy array (with
            ``affine``) or ``(vertices, faces)``.
        viewport
            Index, list of indices, or ``"all"`` (the default: every viewport of
            every layout). A volume shown in several viewports is sent once.
        role : {"background", "overlay", "mask"}, optional
            For volumes; default: background if the viewport has none, else
            overlay. A new background replaces the old one. Surfaces and fibers
            get the roles ``"surface"`` and ``"fibers"``.
        affine
            4×4 voxel→world (RAS mm) matrix, for numpy arrays only (default
            identity: 1 mm voxels).
        colormap, opacity, window, outline, color, visible
            Display properties; ``window`` is ``(level, width)`` (default: the
            image's robust 2–98 % range); ``color`` is a mask's or surface's RGB.
        modality : {"CT", "MR", "PT", "other"}, optional
            Picks the window presets the keys and the toolbar offer (CT presets
            only for CT); default: guessed from the intensities (Hounsfield air).

        Returns
        -------
        Layer

        Raises
        ------
        nora_lab.errors.ImagingError
            Unsupported or unreadable file (named in the message), bad array,
            bad affine, unknown role, colormap, viewport or color.
        """
        if source is _COMM:  # ipywidgets' Widget.open(): open the comm (called by __init__)
            return super().open()
        vps = viewports(viewport)
        data = load(source, affine=affine, name=name)
        if data.kind == "volume":
            if role is None:
                role = "overlay" if any(self._background(v) for v in vps) else "background"
            if role not in ROLES:
                raise ImagingError(f"unknown role {role!r} for {data.name}; use one of {ROLES}")
            if role == "mask":
                return self.set_mask(data, name=data.name, viewport=vps, color=color or "red",
                                     opacity=0.5 if opacity is None else opacity, outline=outline)
        else:
            if role not in (None, MESH_ROLES[data.kind]):
                raise ImagingError(
                    f"{data.name} is a {'surface' if data.kind == 'mesh' else 'fiber set'}; "
                    f"it cannot be opened as {role!r}"
                )
            role = MESH_ROLES[data.kind]
        spec = new_spec(data, role, vps, colormap=colormap, opacity=opacity, window=window,
                        outline=outline, color=color, visible=visible, modality=modality)
        return self._add(data, spec)

    def set_mask(
        self,
        mask: Any,
        affine: Any = None,
        *,
        name: str = "roi",
        viewport: int | Sequence[int] | str = "all",
        color: Any = "red",
        opacity: float = 0.5,
        outline: bool = False,
    ) -> Layer:
        """Show (or replace) the ROI mask ``name``; non-zero voxels are inside.

        The mask becomes the draw target (``viewer.draw_target``). Replacing a
        mask of the same name keeps its display properties and sends the new
        voxels once; small edits should use :meth:`update_mask`.
        """
        data = load(mask, affine=affine, name=name)
        if not isinstance(data, VolumeData):
            raise ImagingError(f"mask {name!r} must be a volume, got a {data.kind}")
        data = volume_from_array(data.data != 0, data.affine, name, data.origin)
        vps = viewports(viewport)
        old = next((s for s in self.layers if s["role"] == "mask" and s["name"] == name), None)
        if old is not None:
            self._data[old["id"]] = data
            self._set_props(old["id"], version=old["version"] + 1, shape=list(data.shape),
                            affine=data.affine.ravel().tolist(), nbytes=data.nbytes, viewports=vps)
            self._send_layer(old["id"])
            self.draw_target = old["id"]
            return Layer(self, old["id"])
        spec = new_spec(data, "mask", vps, colormap=None, opacity=opacity, window=None,
                              outline=outline, color=color, visible=True)
        layer = self._add(data, spec)
        self.draw_target = layer.id
        return layer

    def update_mask(self, bbox: Any, values: Any, layer: Layer | str | None = None) -> None:
        """Change the voxels of a mask inside a bounding box; only the box is sent.

        Parameters
        ----------
        bbox
            ``((x0, x1), (y0, y1), (z0, z1))`` half-open voxel ranges, or a
            tuple of three slices.
        values
            Array of the box's shape; non-zero = inside the ROI.
        layer
            Mask layer (handle, id or name); default: ``draw_target``.
        """
        spec = self._mask_spec(layer)
        data = self._volume(spec["id"])
        box = self._bbox(bbox, data.shape, spec["name"])
        vals = np.asarray(values)
        want = tuple(b - a for a, b in box)
        if vals.shape != want:
            raise ImagingError(
                f"update_mask on {spec['name']!r}: values have shape {vals.shape}, bbox needs "
                f"{want}")
        sl = tuple(slice(a, b) for a, b in box)
        data.data[sl] = vals != 0
        self._bump()
        if self._frontend_ready:
            # x fastest in wire order: Fortran order of the patch, or C order if sent transposed
            buf = np.asarray(data.data[sl], dtype=np.uint8).ravel(
                order="C" if data.transposed else "F")
            self.send({"type": "mask_diff", "id": spec["id"], "version": spec["version"],
                       "bbox": [v for ab in data.wire_bbox(box) for v in ab], "seq": self.seq},
                      [memoryview(buf)])  # type: ignore[arg-type]
            self.bytes_sent += buf.nbytes

    def close_layer(self, layer: Layer | str) -> None:
        """Remove a layer (handle, id or name) from every viewport."""
        spec = self._find(layer)
        self.layers = [s for s in self.layers if s["id"] != spec["id"]]
        self._data.pop(spec["id"], None)
        if self.draw_target == spec["id"]:
            masks = [s["id"] for s in self.layers if s["role"] == "mask"]
            self.draw_target = masks[-1] if masks else ""

    def clear(self) -> None:
        """Remove every layer."""
        self.layers = []
        self._data.clear()
        self.draw_target = ""

    def layer(self, key: str) -> Layer:
        """The layer with this id or name."""
        return Layer(self, self._find(key)["id"])

    def set_appearance(
        self,
        layer: Layer | str,
        viewport: int | Sequence[int] | str,
        *,
        colormap: str | None = None,
        window: tuple[float, float] | None = None,
        opacity: float | None = None,
    ) -> Layer:
        """Draw a volume layer with another colormap, window or opacity in some viewports only.

        NORA sets a property for every viewport unless shift is held while choosing it in
        the viewbar; this is the shift. The layer list on the canvas does the same with
        shift held. Setting the property on the layer (``layer.colormap = ...``) sets it for
        every viewport again. While an overridden viewport is active, :attr:`window` (and
        so middle drag, presets, double click) changes its own window.

        Parameters
        ----------
        layer
            A background or overlay volume (handle, id or name).
        viewport
            Index, list of indices or ``"all"``.
        colormap, window, opacity
            What differs there; at least one. ``window`` is ``(level, width)``.

        Returns
        -------
        Layer

        Raises
        ------
        nora_lab.errors.ImagingError
            A mask, surface or fiber set; nothing to set; a bad value or viewport.

        Examples
        --------
        >>> v = Viewer("t1.nii.gz", layout="1x3")                      # doctest: +SKIP
        >>> v.set_appearance("t1.nii.gz", viewport=2, colormap="hot")  # doctest: +SKIP
        """
        spec = self._find(layer)
        if spec["kind"] != "volume" or spec["role"] == "mask":
            raise ImagingError(
                f"set_appearance: {spec['name']!r} is a {spec['role']}; only background and "
                "overlay volumes have a colormap, window and opacity per viewport")
        asked = {"colormap": colormap, "window": window, "opacity": opacity}
        changes = check_changes(spec, {k: v for k, v in asked.items() if v is not None})
        if not changes:
            raise ImagingError(
                f"set_appearance on {spec['name']!r}: give colormap=, window= or opacity=; "
                "clear_appearance() returns viewports to the layer's own look")
        per = {k: dict(v) for k, v in (spec.get("per_viewport") or {}).items()}
        for vp in viewports(viewport):
            per[str(vp)] = {**per.get(str(vp), {}), **changes}
        self._set_per_viewport(spec["id"], per)
        return Layer(self, spec["id"])

    def clear_appearance(self, layer: Layer | str,
                         viewport: int | Sequence[int] | str = "all") -> Layer:
        """Draw ``layer`` in these viewports as the layer itself says again (undo
        :meth:`set_appearance`)."""
        spec = self._find(layer)
        drop = {str(v) for v in viewports(viewport)}
        per = {k: v for k, v in (spec.get("per_viewport") or {}).items() if k not in drop}
        self._set_per_viewport(spec["id"], per)
        return Layer(self, spec["id"])

    # ------------------------------------------------------------ window, events

    def apply_window_preset(self, key: str) -> tuple[float, float]:
        """Apply a window preset by key (``"1"``…``"6"``, ``"0"`` = auto) or name.

        The CT presets (``1``–``6``) apply to a CT background only (the layer's
        ``modality``); ``"0"`` / ``"auto"`` (the robust 2–98 % range) to any.
        """
        try:
            key, preset = display.preset_for(key)
        except KeyError:
            names = [f"{k}={p['name']}" for k, p in display.CT_WINDOW_PRESETS.items()]
            raise ImagingError(f"unknown window preset {key!r}; use one of {names}") from None
        bg = self._active_background()
        if preset["level"] is None:
            w = tuple(bg["auto_window"]) if bg else (0.5, 1.0)
        else:
            if bg is not None and bg.get("modality") != "CT":
                raise ImagingError(
                    f"window preset {preset['name']!r} is a CT window (Hounsfield units); "
                    f"{bg['name']!r} is {bg.get('modality') or 'not CT'}: use '0' (auto) or "
                    "set viewer.window = (level, width)")
            w = (preset["level"], preset["width"])
        self.window = w
        return self.window

    def reset_window(self) -> tuple[float, float]:
        """Return the active viewport's background to the window it opened with (as a double
        click does)."""
        bg = self._active_background()
        if bg is not None and bg.get("open_window"):
            self.window = tuple(bg["open_window"])
        return self.window

    def on_draw(self, callback: Callable[[DrawEvent], Any], remove: bool = False) -> None:
        """Call ``callback(event: DrawEvent)`` for each piece of a pen stroke."""
        self._draw_handlers.register_callback(callback, remove=remove)

    def on_click(self, callback: Callable[[ClickEvent], Any], remove: bool = False) -> None:
        """Call ``callback(event: ClickEvent)`` for each left click outside ROI edit mode."""
        self._click_handlers.register_callback(callback, remove=remove)

    def on_key(self, callback: Callable[[KeyEvent], Any], remove: bool = False) -> None:
        """Call ``callback(event: KeyEvent)`` for ctrl+z / shift+ctrl+z / ctrl+y and arrow
        up/down."""
        self._key_handlers.register_callback(callback, remove=remove)

    # ------------------------------------------------------------ internals: specs

    def _add(self, data, spec: dict) -> Layer:
        first_volume = data.kind == "volume" and not any(s["kind"] == "volume" for s in self.layers)
        with self.hold_sync():
            layers = [dict(s) for s in self.layers]
            if spec["role"] == "background":  # a new background replaces the old one
                for s in layers:
                    if s["role"] == "background":
                        s["viewports"] = [v for v in s["viewports"] if v not in spec["viewports"]]
                for s in [s for s in layers if s["role"] == "background" and not s["viewports"]]:
                    self._data.pop(s["id"], None)
                layers = [s for s in layers if s["role"] != "background" or s["viewports"]]
            self._data[spec["id"]] = data
            self.layers = [*layers, spec]
            if first_volume:
                self.position = data.center_mm()
            if spec["role"] == "background" and self.active_viewport in spec["viewports"]:
                self.window = tuple(spec["window"])
            if self.view_layout == "mosaic" and not self.mosaic:
                self.mosaic = self._default_mosaic()
        self._send_layer(spec["id"])
        return Layer(self, spec["id"])

    def _set_props(self, layer_id: str, **changes: Any) -> None:
        spec = self._spec(layer_id)
        changes = check_changes(spec, changes)
        if any(k in changes for k in APPEARANCE) and spec.get("per_viewport"):
            # set on the layer = set for every viewport: what single viewports had goes
            per = {vp: {k: v for k, v in props.items() if k not in changes}
                   for vp, props in spec["per_viewport"].items()}
            changes["per_viewport"] = {vp: props for vp, props in per.items() if props}
        self.layers = [{**s, **changes} if s["id"] == layer_id else s for s in self.layers]
        if "window" in changes:
            self._window_from_layers()

    def _set_per_viewport(self, layer_id: str, per: dict) -> None:
        with self.hold_sync():
            self.layers = [{**s, "per_viewport": per} if s["id"] == layer_id else s
                           for s in self.layers]
            self._window_from_layers()

    def _window_from_layers(self) -> None:
        """``window`` = the window the active viewport draws its background with."""
        bg = self._active_background()
        if bg is None:
            return
        win = effective(bg, self.active_viewport)["window"]
        if win and list(win) != list(self.window):
            self.window = tuple(win)

    def _spec(self, layer_id: str) -> dict:
        for s in self.layers:
            if s["id"] == layer_id:
                return s
        raise KeyError(layer_id)

    def _find(self, key: Layer | str) -> dict:
        if isinstance(key, Layer):
            key = key.id
        for s in self.layers:
            if key in (s["id"], s["name"]):
                return s
        names = [s["name"] for s in self.layers]
        raise ImagingError(f"no layer {key!r} in this viewer; layers: {names}")

    def _mask_spec(self, layer: Layer | str | None) -> dict:
        if layer is None:
            if not self.draw_target:
                raise ImagingError(
                    "update_mask: this viewer has no mask; call viewer.set_mask(...) first")
            layer = self.draw_target
        spec = self._find(layer)
        if spec["role"] != "mask":
            raise ImagingError(f"layer {spec['name']!r} is a {spec['role']}, not a mask")
        return spec

    @staticmethod
    def _bbox(bbox: Any, shape: tuple[int, ...], name: str) -> list[tuple[int, int]]:
        try:
            box = []
            for b, n in zip(bbox, shape, strict=True):
                a, c, _ = b.indices(n) if isinstance(b, slice) else (int(b[0]), int(b[1]), 1)
                box.append((a, c))
        except (TypeError, ValueError, IndexError):
            raise ImagingError(
                f"update_mask on {name!r}: bbox must be ((x0, x1), (y0, y1), (z0, z1)), got "
                f"{bbox!r}") from None
        for (a, c), n in zip(box, shape, strict=True):
            if not 0 <= a < c <= n:
                raise ImagingError(
                    f"update_mask on {name!r}: bbox {bbox!r} is empty or outside the mask's shape "
                    f"{shape}")
        return box

    def _background(self, viewport: int) -> dict | None:
        for s in reversed(self.layers):
            if s["role"] == "background" and viewport in s["viewports"]:
                return s
        return None

    def _active_background(self) -> dict | None:
        return self._background(self.active_viewport)

    def _default_mosaic(self) -> str:
        """12 labelled axial slices spread over the head (the slices where the background
        has signal above the bottom of its auto window), never through empty air."""
        bg = self._background(0)
        if bg is None:
            return ""
        vol = self._volume(bg["id"])
        lo, hi = vol.world_bounds()
        z_lo, z_hi = lo[2], hi[2]
        floor = bg["auto_window"][0] - bg["auto_window"][1] / 2
        inside = np.argwhere(np.asarray(vol.data) * vol.slope + vol.inter > floor)
        if inside.size:
            a, b = inside.min(0), inside.max(0)
            corners = np.array([[i, j, k, 1.0] for i in (a[0], b[0]) for j in (a[1], b[1])
                                for k in (a[2], b[2])]) @ vol.affine.T
            z_lo, z_hi = corners[:, 2].min(), corners[:, 2].max()
        zs = [z_lo + (z_hi - z_lo) * (i + 0.5) / 12 for i in range(12)]
        rows = [" ".join(f"{z:.1f}" for z in zs[r * 4 : r * 4 + 4]) for r in range(3)]
        return "L+ A " + " ; A ".join(rows)

    # ------------------------------------------------------------ internals: sync

    def _from_frontend(self, name: str) -> bool:
        """True while handling an update of ``name`` that came from the page."""
        return name in (getattr(self, "_property_lock", None) or {})

    def _bump(self) -> None:
        self.seq = self.seq + 1

    @t.observe("layers", "position", "window", "view_layout", "slice_types", "mosaic", "height",
               "active_viewport", "drawing", "draw_target", "radiological")
    def _python_change(self, change: t.Bunch) -> None:
        # Changes made by the page, and what Python derives from them (the layer's
        # stored window), are drawn already: no new seq to acknowledge.
        if not (self._from_frontend(change.name) or self._deriving):
            self._bump()

    @t.validate("view_layout")
    def _valid_layout(self, proposal: t.Bunch) -> str:
        if proposal.value not in display.LAYOUTS:
            raise ImagingError(f"unknown layout {proposal.value!r}; use one of {display.LAYOUTS}")
        return proposal.value

    @t.validate("slice_types")
    def _valid_slice_types(self, proposal: t.Bunch) -> list[str]:
        bad = [s for s in proposal.value if s not in display.SLICE_TYPES]
        if bad or len(proposal.value) > display.MAX_VIEWPORTS:
            raise ImagingError(
                f"slice_types must be up to {display.MAX_VIEWPORTS} of {display.SLICE_TYPES}, "
                f"got {proposal.value!r}")
        return list(proposal.value)

    @t.validate("window")
    def _valid_window(self, proposal: t.Bunch) -> tuple[float, float]:
        level, width = check_window(proposal.value, "the viewer")
        return level, width

    @t.validate("active_viewport")
    def _valid_active(self, proposal: t.Bunch) -> int:
        if not 0 <= proposal.value < display.MAX_VIEWPORTS:
            raise ImagingError(
                f"active_viewport must be 0..{display.MAX_VIEWPORTS - 1}, got {proposal.value}")
        return proposal.value

    @t.observe("view_layout")
    def _layout_changed(self, change: t.Bunch) -> None:
        with self.hold_sync():
            self.slice_types = list(display.LAYOUT_VIEWPORTS[change.new])
            if change.new == "mosaic" and not self.mosaic:
                self.mosaic = self._default_mosaic()
            n = len(display.LAYOUT_VIEWPORTS[change.new])
            if self.active_viewport >= n:
                self.active_viewport = 0

    @t.observe("window")
    def _window_changed(self, change: t.Bunch) -> None:
        # the window is the active viewport's: its own if set_appearance gave it one
        bg = self._active_background()
        if bg is None or list(effective(bg, self.active_viewport)["window"] or []) == list(
                change.new):
            return
        key, per = str(self.active_viewport), bg.get("per_viewport") or {}
        if "window" in per.get(key, {}):
            new = {**bg, "per_viewport": {**per, key: {**per[key], "window": list(change.new)}}}
        else:
            new = {**bg, "window": list(change.new)}
        self._deriving = self._from_frontend("window")
        try:
            self.layers = [new if s["id"] == bg["id"] else s for s in self.layers]
        finally:
            self._deriving = False

    @t.observe("active_viewport")
    def _active_changed(self, change: t.Bunch) -> None:
        if not self._from_frontend("active_viewport"):
            self._window_from_layers()

    @t.observe("position", "active_viewport", "layers")
    def _update_value(self, change: t.Bunch) -> None:
        bg = self._active_background()
        val = None
        if bg is not None and bg["id"] in self._data:
            v = self._volume(bg["id"]).value_at(self.position)
            val = v if math.isfinite(v) else None
        if val != self.value:
            self.set_trait("value", val)

    # ------------------------------------------------------------ internals: transfer

    def _volume(self, layer_id: str) -> VolumeData:
        """The voxels of a volume layer (masks, backgrounds, overlays)."""
        data = self._data[layer_id]
        if not isinstance(data, VolumeData):
            raise ImagingError(f"layer {layer_id} is a {data.kind}, not a volume")
        return data

    def _send_layer(self, layer_id: str) -> None:
        if not self._frontend_ready or layer_id not in self._data:
            return
        spec = self._spec(layer_id)
        data = self._data[layer_id]
        label = spec["role"] == "mask"
        parts = data.parts(label=label)
        extra: dict[str, str] = {}
        if self._compress and isinstance(data, VolumeData):
            stored = None if label else stored_gzip(data)
            blob, fmt = stored if stored is not None else (gzip_volume(parts), "nii")
            parts, extra = [("gzip", blob)], {"encoding": "gzip", "format": fmt}
        self.bytes_sent += send_payload(
            lambda content, buffers: self.send(content, buffers), layer_id, spec["version"],
            data.kind, parts, self.seq, chunk_bytes=self._chunk_bytes, **extra,
        )

    def _on_frontend_msg(self, _widget: Any, content: dict, buffers: list) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "esm":  # the page's first Viewer asks for the module (static/viewer_loader.js)
            blob = _bundle_gz(_bundle_hash())
            self.send({"type": "esm"}, [memoryview(blob)])
        elif kind == "ready":
            self._frontend_ready = True
            have = content.get("have") or {}
            for spec in list(self.layers):
                if have.get(spec["id"]) != spec["version"]:
                    self._send_layer(spec["id"])
            self._bump()
        elif kind == "draw":
            self._dispatch_draw(content)
        elif kind == "dropped":
            names = [str(n) for n in content.get("names") or []]
            self.set_trait("dropped", [*self.dropped, *names])
        elif kind == "click":
            pts = content.get("points") or [[math.nan] * 3]
            world = tuple(math.nan if v is None else float(v) for v in pts[-1][:3])
            if len(world) == 3 and all(math.isfinite(v) for v in world):
                self._click_handlers(ClickEvent(
                    viewport=int(content.get("viewport", 0)), axis=str(content.get("axis", "")),
                    world=world, shift=bool(content.get("shift", False)),
                    ctrl=bool(content.get("ctrl", False))))
        elif kind == "key":
            self._key_handlers(KeyEvent(
                key=str(content.get("key", "")), ctrl=bool(content.get("ctrl", False)),
                shift=bool(content.get("shift", False)), alt=bool(content.get("alt", False))))

    def _dispatch_draw(self, msg: dict) -> None:
        target = None
        if self.draw_target:
            target = next((s for s in self.layers if s["id"] == self.draw_target), None)
        if target is None:
            target = self._background(int(msg.get("viewport", self.active_viewport)))
        if target is None or target["id"] not in self._data:
            return
        data = self._volume(target["id"])
        world = np.asarray(msg.get("points") or [], dtype=np.float64).reshape(-1, 3)
        homog = np.c_[world, np.ones(len(world))]
        ijk = np.rint(np.linalg.solve(data.affine, homog.T).T[:, :3]).astype(np.int64)
        inside = np.all((ijk >= 0) & (ijk < np.asarray(data.shape)), axis=1)
        event = DrawEvent(
            phase=str(msg.get("phase", "move")), buttons=int(msg.get("buttons", 1)),
            viewport=int(msg.get("viewport", 0)), axis=str(msg.get("axis", "")),
            world=world, voxels=ijk, inside=inside, layer=target["name"], layer_id=target["id"],
            shift=bool(msg.get("shift", False)), ctrl=bool(msg.get("ctrl", False)),
        )
        self._draw_handlers(event)


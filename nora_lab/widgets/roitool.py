"""The ROI tool: NORA's ROI list, pens, operations and statistics over a :class:`Viewer`.

Everything is computed in the kernel by :mod:`nora_lab.imaging`; the viewer only
shows it. Each ROI is a mask layer of the viewer; every change reaches the page
as a bounding-box diff (:meth:`Viewer.update_mask`) of the :class:`~nora_lab.imaging.Edit`
the pen or operation returned – never the whole volume.

* **Drawing** (space in the viewer toggles ROI edit): the left button draws with
  the selected pen, the right button erases. A pen stroke – however many pieces
  the page sends – is *one* undoable edit. Pens: brush, eraser, threshold
  (higher/lower, optionally connected: NORA's "RGrow"), magic pen (connected or
  not), 3-D region growing (click a seed), polygon (draw the outline). The pen
  size is a radius in mm; pens draw a disc in the slice under the mouse (2-D) or
  a ball (3-D). Threshold and magic pens read the viewer's background and window.
  With **live preview** on, the preview layer shows where the threshold or magic pen
  would paint at the crosshair, following the crosshair, window and settings.
* **Polygon by clicks** (pen ``polygon-click``): each click adds a corner, a press on a
  corner drags it; :meth:`ROITool.commit_polygon` (the "Commit" button) fills it into the
  ROI, :meth:`ROITool.cancel_polygon` drops it (:mod:`nora_lab.widgets._roiedit`).
* **From the image** (NORA's hand icon): :meth:`ROITool.from_window` makes a new ROI of
  the background's voxels above the lower window limit.
* **Undo/redo**: ``ctrl+z`` / ``shift+ctrl+z`` (or ``ctrl+y``) in the viewer, or
  :meth:`ROITool.undo` / :meth:`ROITool.redo`, on the current ROI.
* **The list**: focus (centre of gravity), make current, visibility, save to the
  study (``rois/<name>.nii.gz``, tagged ``roi``), download, clear, delete.
* **Operations**: erode, dilate, opening, closing, union, intersection,
  difference, remove salt; **statistics** of every ROI over every volume shown.
"""

from __future__ import annotations

import base64
import gzip
import html
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import ipywidgets as W
import numpy as np
from ipywidgets import CallbackDispatcher

from nora_lab import imaging as im
from nora_lab.assist.panel import AssistPanel
from nora_lab.errors import ArchiveError, ImagingError, NoraError

from ._events import DrawEvent, KeyEvent
from ._guard import guarded
from ._roiedit import PolygonDraft, PreviewLayer

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from nora_lab.archive.project import Project

    from .viewer import Viewer

__all__ = ["ROITool", "PENS", "OPERATIONS"]

#: pen key -> label (NORA's pen types; the right mouse button erases with any of them)
PENS = {
    "brush": "Brush",
    "eraser": "Eraser",
    "threshold-higher": "Threshold: higher",
    "threshold-lower": "Threshold: lower",
    "threshold-higher-rgrow": "Threshold: higher RGrow",
    "threshold-lower-rgrow": "Threshold: lower RGrow",
    "magic": "Magic pen",
    "magic-connected": "Magic pen (connected)",
    "region-grow": "Region grow (3-D, click a seed)",
    "polygon": "Polygon (draw the outline)",
    "polygon-click": "Polygon (click the corners, then Commit)",
}
#: operation key -> label
OPERATIONS = {
    "erode": "Erode", "dilate": "Dilate", "opening": "Opening", "closing": "Closing",
    "union": "Union with …", "intersection": "Intersection with …",
    "difference": "Difference with …", "remove_salt": "Remove salt (min voxels)",
}
_SET_OPS = ("union", "intersection", "difference")
_COLORS = ("red", "yellow", "cyan", "green", "magenta", "orange", "blue", "white")
_WORLD_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}


@dataclass
class _Entry:
    roi: im.ROI
    layer: str = ""
    color: str = "red"
    relpath: str | None = None  # where it is saved in the study
    dirty: bool = False
    row: Any = None
    label: Any = None
    current: Any = None
    visible: Any = None


@dataclass
class _Stroke:
    """One pen stroke: the union box it touched and the ROI's values there before it."""

    name: str
    label: str
    box: tuple[slice, slice, slice] | None = None
    old: np.ndarray | None = None
    points: list[np.ndarray] = field(default_factory=list)
    erase: bool = False
    axis: str = ""

    def grow(self, data: np.ndarray, box: tuple[slice, ...]) -> None:
        new = box if self.box is None else tuple(
            slice(min(a.start, b.start), max(a.stop, b.stop))
            for a, b in zip(self.box, box, strict=True))
        if new == self.box:
            return
        old = data[new].copy()  # outside the previous box the stroke has not drawn yet
        if self.box is not None:
            inner = tuple(slice(a.start - n.start, a.stop - n.start)
                          for a, n in zip(self.box, new, strict=True))
            old[inner] = self.old
        self.box, self.old = new, old  # type: ignore[assignment]


def _button(description: str, tooltip: str, width: str = "32px", **kw: Any) -> W.Button:
    return W.Button(description=description, tooltip=tooltip, layout=W.Layout(width=width), **kw)


class ROITool(W.VBox):
    """NORA's ROI tool over a viewer.

    Parameters
    ----------
    viewer : Viewer
        Shows the ROIs (as masks) and reports pen strokes and keys.
    project : Project, optional
        Where :meth:`save` writes (``rois/<name>.nii.gz`` in study ``psid``).
    psid : str, optional
        The study the ROIs belong to.

    Examples
    --------
    >>> tool = ROITool(viewer, proj, "P001#S1")          # doctest: +SKIP
    >>> roi = tool.new("lesion")                          # on the viewer's background grid
    >>> tool.pen, tool.pen_size = "brush", 4.0            # doctest: +SKIP
    >>> tool.operation("dilate"); tool.undo()             # doctest: +SKIP
    >>> tool.statistics()                                 # doctest: +SKIP
    >>> tool.save("lesion")                               # doctest: +SKIP
    """

    def __init__(self, viewer: Viewer, project: Project | None = None, psid: str | None = None,
                 **kwargs: Any):
        self.viewer = viewer
        self.project = project
        self.psid = psid
        self._save_handlers = CallbackDispatcher()
        self._entries: dict[str, _Entry] = {}
        self._current = ""
        self._stroke: _Stroke | None = None
        self._last_edit: im.Edit | None = None
        self._contrast_cache: tuple[Any, Any] | None = None
        self._colors = itertools.cycle(_COLORS)
        self._draft: PolygonDraft | None = None
        self._preview = PreviewLayer(viewer)

        # --- list
        self.new_name = W.Text(placeholder="new ROI name", layout=W.Layout(width="140px"))
        self.new_button = W.Button(description="New ROI",
                                   tooltip="a new empty ROI on the viewer's background",
                                   icon="plus", layout=W.Layout(width="100px"))
        self.new_button.on_click(
            lambda _: self._guard(lambda: self.new(self.new_name.value or None)))
        self.list_box = W.VBox(layout=W.Layout(max_height="180px", overflow="auto"))
        self.list_box.add_class("nora-roi-list")

        # --- pens
        self.pen_picker = W.Dropdown(options=[(v, k) for k, v in PENS.items()], value="brush",
                                     description="Pen", layout=W.Layout(width="300px"))
        self.size_slider = W.FloatSlider(value=3.0, min=0.0, max=30.0, step=0.5,
                                         description="Size (mm)",
                                         readout_format=".1f", layout=W.Layout(width="300px"))
        self.dims = W.ToggleButtons(options=["2-D", "3-D"], value="2-D",
                                    tooltips=["a disc in the slice under the pen", "a ball"],
                                    style={"button_width": "48px"})
        self.threshold_box = W.Text(value="low", description="Threshold",
                                    tooltip="'low' / 'high' = the window's limits, or a number",
                                    layout=W.Layout(width="200px"))
        self.similarity_slider = W.FloatSlider(value=0.1, min=0.0, max=1.0, step=0.01,
                                               description="Similarity",
                                               layout=W.Layout(width="300px"))
        self.opacity_slider = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05,
                                            description="Opacity",
                                            layout=W.Layout(width="300px"))
        self.outline_box = W.Checkbox(value=False, description="Outline", indent=False,
                                      layout=W.Layout(width="90px"))
        self.opacity_slider.observe(lambda c: self._restyle(), "value")
        self.outline_box.observe(lambda c: self._restyle(), "value")
        self.undo_button = _button("↶", "undo (ctrl+z)", width="40px")
        self.redo_button = _button("↷", "redo (shift+ctrl+z)", width="40px")
        self.undo_button.on_click(lambda _: self._guard(self.undo))
        self.redo_button.on_click(lambda _: self._guard(self.redo))
        self.hand_button = _button("✋", "new ROI from the image: the background's voxels above "
                                   "the lower window limit", width="40px")
        self.hand_button.on_click(lambda _: self._guard(lambda: self.from_window(
            self.new_name.value or None)))
        self.preview_toggle = W.ToggleButton(value=False, description="live preview",
                                             tooltip="show where the threshold / magic pen "
                                                     "would paint at the crosshair",
                                             layout=W.Layout(width="110px"))
        self.preview_toggle.add_class("nora-roi-preview")
        self.commit_button = W.Button(description="Commit", tooltip="fill the clicked polygon "
                                      "into the ROI", layout=W.Layout(width="80px"))
        self.commit_button.add_class("nora-roi-commit")
        self.commit_button.on_click(lambda _: self._guard(self.commit_polygon))
        self.cancel_button = _button("✕", "drop the clicked polygon")
        self.cancel_button.on_click(lambda _: self._guard(self.cancel_polygon))

        # --- operations
        self.op_picker = W.Dropdown(options=[(v, k) for k, v in OPERATIONS.items()], value="dilate",
                                    description="Operation", layout=W.Layout(width="300px"))
        self.op_other = W.Dropdown(options=[], description="with", layout=W.Layout(width="200px"))
        self.op_amount = W.BoundedIntText(value=1, min=1, max=1_000_000, description="n",
                                          tooltip="iterations (morphology) or minimum voxels "
                                                  "(remove salt)",
                                          layout=W.Layout(width="140px"))
        self.op_button = W.Button(description="Apply", layout=W.Layout(width="80px"))
        self.op_button.on_click(lambda _: self._guard(lambda: self.operation(
            self.op_picker.value, self.op_amount.value, other=self.op_other.value)))

        # --- statistics, messages
        self.stats_button = W.Button(description="Statistics", icon="table",
                                     layout=W.Layout(width="110px"))
        self.stats_button.on_click(lambda _: self._guard(self.show_statistics))
        self.stats_html = W.HTML()
        self.stats_html.add_class("nora-roi-stats")
        self.download_html = W.HTML()
        self.status = W.HTML()
        self.status.add_class("nora-roi-status")

        self.assistant = AssistPanel(self)  # points, scribbles, boxes, lassos -> a 3-D ROI
        super().__init__(children=[
            W.HTML("<b>ROI tool</b>"),
            W.HBox([self.new_name, self.new_button, self.hand_button, self.undo_button,
                    self.redo_button]),
            self.list_box,
            W.HBox([self.pen_picker, self.dims, self.preview_toggle]),
            W.HBox([self.commit_button, self.cancel_button]),
            W.HBox([self.size_slider, self.threshold_box]),
            W.HBox([self.similarity_slider]),
            W.HBox([self.opacity_slider, self.outline_box]),
            W.HBox([self.op_picker, self.op_other, self.op_amount, self.op_button]),
            self.assistant,
            W.HBox([self.stats_button]),
            self.stats_html, self.download_html, self.status,
        ], **kwargs)
        self.add_class("nora-roi-tool")
        viewer.on_draw(self._on_draw)
        viewer.on_key(self._on_key)
        viewer.observe(lambda _: self._guard(self._live_preview), ["position", "window"])
        for w in (self.preview_toggle, self.pen_picker, self.size_slider, self.dims,
                  self.threshold_box, self.similarity_slider):
            w.observe(lambda _: self._guard(self._live_preview), "value")
        self._update_status()

    # ------------------------------------------------------------ settings as properties

    @property
    def pen(self) -> str:
        """The pen drawn with (a key of :data:`PENS`)."""
        return self.pen_picker.value

    @pen.setter
    def pen(self, value: str) -> None:
        if value not in PENS:
            raise ImagingError(f"unknown pen {value!r}; use one of {list(PENS)}")
        self.pen_picker.value = value

    @property
    def pen_size(self) -> float:
        """Pen radius in mm."""
        return float(self.size_slider.value)

    @pen_size.setter
    def pen_size(self, value: float) -> None:
        if not value >= 0:
            raise ImagingError(f"pen size is a radius in mm >= 0, got {value!r}")
        self.size_slider.max = max(self.size_slider.max, float(value))
        self.size_slider.value = float(value)

    @property
    def rois(self) -> list[im.ROI]:
        """The ROIs, in list order."""
        return [e.roi for e in self._entries.values()]

    @property
    def names(self) -> list[str]:
        return list(self._entries)

    @property
    def current(self) -> im.ROI | None:
        """The ROI drawn into (None when there is none)."""
        e = self._entries.get(self._current)
        return e.roi if e else None

    def roi(self, name: str) -> im.ROI:
        return self._entry(name).roi

    def is_dirty(self, name: str) -> bool:
        """True when the ROI changed since it was loaded or saved."""
        return self._entry(name).dirty

    # ------------------------------------------------------------ the list

    def new(self, name: str | None = None, reference: Any = None) -> im.ROI:
        """A new, empty ROI on the grid of ``reference`` (default: the viewer's background)."""
        if reference is None:
            reference = self._background_volume()
            if reference is None:
                raise ImagingError(
                    "a new ROI needs a reference grid: open an image in the viewer first")
        roi = im.ROI.from_reference(reference, name=self._unique(name or "roi"))
        return self.add(roi)

    def add(self, roi: im.ROI, *, relpath: str | None = None, dirty: bool = True) -> im.ROI:
        """Put an existing ROI into the list (and the viewer); it becomes current."""
        if roi.name in self._entries:
            roi.name = self._unique(roi.name)
        e = _Entry(roi, color=next(self._colors), relpath=relpath, dirty=dirty)
        self._entries[roi.name] = e
        self._show(e)
        self._build_row(e)
        self.list_box.children = [x.row for x in self._entries.values()]
        self.make_current(roi.name)
        self._refresh_choices()
        return roi

    def load(self, path: str | Path, *, relpath: str | None = None,
             name: str | None = None) -> im.ROI:
        """Open an ROI file (a saved ``rois/*.nii.gz``); nonzero voxels are on."""
        path = Path(path)
        roi = im.ROI.from_nifti(path, name=name or path.name.split(".")[0])
        return self.add(roi, relpath=relpath, dirty=False)

    def make_current(self, name: str) -> None:
        """Draw into this ROI from now on."""
        e = self._entry(name)
        self._current = name
        self._ensure_shown(e)
        self.viewer.draw_target = e.layer
        for x in self._entries.values():
            if x.current is not None:
                x.current.value = x is e
        self._update_status()

    def focus_roi(self, name: str | None = None) -> tuple[float, float, float]:
        """Move the crosshair to the ROI's centre of gravity; returns it (world mm)."""
        roi = self._entry(name).roi
        cog = tuple(float(v) for v in roi.centre_of_gravity())
        self.viewer.position = cog
        return cog  # type: ignore[return-value]

    def set_visible(self, name: str, visible: bool = True) -> None:
        """Show or hide the ROI in every viewport."""
        e = self._entry(name)
        self._ensure_shown(e)
        self.viewer.layer(e.layer).visible = bool(visible)
        if e.visible is not None and e.visible.value != bool(visible):
            e.visible.value = bool(visible)

    def save(self, name: str | None = None, *, relpath: str | None = None) -> Path:
        """Save the ROI into the study: ``rois/<name>.nii.gz`` tagged ``roi`` (overwrites
        the ROI's earlier version); returns the file's path."""
        e = self._entry(name)
        if self.project is None or not self.psid:
            raise ArchiveError(
                f"ROI {e.roi.name!r} cannot be saved: the ROI tool has no project/study "
                            "(ROITool(viewer, project, psid), or use the desk)")
        rel = relpath or e.relpath or f"rois/{e.roi.name}.nii.gz"
        path = self.project.add_image(e.roi.to_nifti(), self.psid, rel, tags=["roi"],
                                      overwrite=True)
        e.relpath, e.dirty = rel, False
        self._update_row(e)
        self._update_status(f"saved {e.roi.name!r} as {self.psid}/{rel}")
        self._save_handlers(self.psid, rel)
        return path

    def on_save(self, callback, remove: bool = False) -> None:
        """Call ``callback(psid, relpath)`` after an ROI was saved into a study."""
        self._save_handlers.register_callback(callback, remove=remove)

    def download(self, name: str | None = None) -> W.HTML:
        """A link that downloads the ROI as ``<name>.nii.gz`` in the browser (shown in the tool)."""
        e = self._entry(name)
        data = gzip.compress(e.roi.to_nifti().to_bytes(), compresslevel=6)
        fname = f"{e.roi.name}.nii.gz"
        href = "data:application/gzip;base64," + base64.b64encode(data).decode()
        self.download_html.value = (
            f"<a download='{html.escape(fname)}' href='{href}'>⬇ {html.escape(fname)}"
                                    f"</a> ({len(data) / 1024:.1f} kB)")
        return self.download_html

    def clear(self, name: str | None = None) -> im.Edit:
        """Turn every voxel of the ROI off (undoable)."""
        e = self._entry(name)
        return self._edited(e, im.clear_roi(e.roi))

    def delete(self, name: str | None = None) -> None:
        """Remove the ROI from the list and the viewer (the saved file stays)."""
        e = self._entry(name)
        del self._entries[e.roi.name]
        if e.layer:
            try:
                self.viewer.close_layer(e.layer)
            except ImagingError:
                pass
        self.list_box.children = [x.row for x in self._entries.values()]
        if self._current == e.roi.name:
            self._current = ""
            if self._entries:
                self.make_current(list(self._entries)[-1])
        self._refresh_choices()
        self._update_status(f"deleted {e.roi.name!r}")

    def reset(self, psid: str | None = None) -> list[str]:
        """Close every ROI (a new study); returns the names of ROIs closed unsaved."""
        unsaved = [n for n, e in self._entries.items() if e.dirty and e.roi.count]
        for e in self._entries.values():
            if e.layer:
                try:
                    self.viewer.close_layer(e.layer)
                except ImagingError:
                    pass
        self._entries.clear()
        self._current = ""
        self._stroke = None
        self._contrast_cache = None
        self._draft = None
        self._preview.clear()
        self.list_box.children = []
        self.stats_html.value = ""
        self.download_html.value = ""
        self.psid = psid
        self._refresh_choices()
        self._update_status(f"closed unsaved ROI(s): {', '.join(unsaved)}" if unsaved else "")
        return unsaved

    # ------------------------------------------------------------ edits

    def undo(self) -> im.Edit | None:
        """Undo the current ROI's last edit (a whole pen stroke is one edit)."""
        return self._history_step("undo")

    def redo(self) -> im.Edit | None:
        """Redo the current ROI's last undone edit."""
        return self._history_step("redo")

    def _history_step(self, which: str) -> im.Edit | None:
        e = self._entry(None)
        edit = e.roi.undo() if which == "undo" else e.roi.redo()
        if edit is not None:
            self._show_diff(e, edit.bbox, edit.old if which == "undo" else edit.new)
            e.dirty = True
            self._update_row(e)
            self._update_status(f"{which} {edit.label}")
        return edit

    def operation(self, op: str, amount: int = 1, *, other: str | None = None,
                  name: str | None = None) -> im.Edit:
        """Apply an operation of :data:`OPERATIONS` to the ROI ``name`` (default: current).

        ``amount`` is the number of iterations (morphology) or the minimum component size
        in voxels (remove salt); set operations combine with the ROI named ``other``
        (resampled through world coordinates if it lies on another grid).
        """
        e = self._entry(name)
        roi = e.roi
        if op in ("erode", "dilate", "opening", "closing"):
            edit = getattr(im, op)(roi, iterations=int(amount))
        elif op in _SET_OPS:
            if not other or other not in self._entries:
                raise ImagingError(f"{op} needs another ROI; the tool has {self.names}")
            edit = getattr(im, op)(roi, self._entries[other].roi, resample=True)
        elif op == "remove_salt":
            edit = im.remove_salt(roi, int(amount))
        else:
            raise ImagingError(f"unknown operation {op!r}; use one of {list(OPERATIONS)}")
        return self._edited(e, edit)

    def statistics(self, names: list[str] | None = None) -> pd.DataFrame:
        """:func:`~nora_lab.imaging.roi_statistics` of the (non-empty) ROIs over every
        volume the viewer shows (backgrounds and overlays)."""
        rois = [self._entry(n).roi for n in (names or self.names)]
        rois = [r for r in rois if r.count]
        if not rois:
            raise ImagingError("no ROI has voxels yet: draw into one before asking for statistics")
        contrasts: dict[str, Any] = {}
        for spec in self.viewer.layers:
            if spec["kind"] == "volume" and spec["role"] in ("background", "overlay"):
                contrasts.setdefault(spec["name"], self._volume(spec["id"]))
        return im.roi_statistics(rois, contrasts or None)

    def show_statistics(self) -> pd.DataFrame:
        """Compute :meth:`statistics` and show the table in the tool."""
        df = self.statistics()
        self.stats_html.value = df.round(3).to_html(index=False, classes="nora-stats-table",
                                                    na_rep="")
        return df

    # ------------------------------------------------------------ from the image, polygons, preview

    def from_window(self, name: str | None = None) -> im.ROI:
        """NORA's hand icon: a new ROI of the background's voxels above the lower limit of
        the viewer's window; it becomes current."""
        ref = self._background_volume()
        if ref is None:
            raise ImagingError("an ROI from the image needs a background: open an image first")
        level, width = self.viewer.window
        roi = im.ROI.from_reference(ref, window=(level - width / 2.0, level + width / 2.0),
                                    name=self._unique(name or "from image"))
        self.add(roi)
        self._update_status(f"{roi.name!r}: {roi.count} voxel(s) above {level - width / 2:g}")
        return roi

    @property
    def polygon_vertices(self) -> np.ndarray:
        """Corners (world mm, (N, 3)) of the polygon being clicked; empty without one."""
        return self._draft.points if self._draft is not None else np.zeros((0, 3))

    def add_vertex(self, world: Any, axis: str = "axial") -> int:
        """Add a corner to the clicked polygon (what a click with ``polygon-click`` does)."""
        if self._draft is None or not self._draft.vertices:
            self._draft = PolygonDraft(axis)
        self._draft.vertices.append(np.asarray(world, dtype=float).reshape(3))
        self._show_draft()
        return len(self._draft.vertices) - 1

    def move_vertex(self, index: int, world: Any) -> None:
        """Move a corner of the clicked polygon (what dragging it does)."""
        if self._draft is None:
            raise ImagingError("there is no clicked polygon: pick the pen 'polygon-click' "
                               "and click its corners")
        self._draft.move(index, world)
        self._show_draft()

    def commit_polygon(self, *, erase: bool = False) -> im.Edit:
        """Fill the clicked polygon into the current ROI (one undoable edit)."""
        d = self._draft
        if d is None or len(d.vertices) < 3:
            n = 0 if d is None else len(d.vertices)
            raise ImagingError(f"a polygon needs at least 3 corners; {n} clicked so far")
        e = self._entry(None) if self._entries else self._entries.get(self.new("roi").name)
        assert e is not None
        edit = im.polygon_fill(e.roi, d.points, self._voxel_axis(e.roi, d.axis), world=True,
                               erase=erase)
        self._draft = None
        self._preview.clear()
        return self._edited(e, edit)

    def cancel_polygon(self) -> None:
        """Drop the clicked polygon."""
        self._draft = None
        self._preview.clear()
        self._update_status("polygon dropped")

    def _click_polygon(self, phase: str, world: np.ndarray, axis: str) -> None:
        if not len(world) and phase != "up":
            return
        if phase == "down":
            if self._draft is None or not self._draft.vertices:
                self._draft = PolygonDraft(axis or "axial")
            reach = max(self.pen_size, 2.0)
            self._draft.press(world[0], reach)
        elif self._draft is not None:
            if len(world):
                self._draft.drag(world[-1])
            if phase == "up":
                self._draft.release()
        self._show_draft()

    def _reference_roi(self) -> im.ROI | None:
        """The grid previews are drawn on: the current ROI's, else the background's."""
        if self._entries:
            return self._entry(None).roi
        bg = self._background_volume()
        return None if bg is None else im.ROI.from_reference(bg)

    def _show_draft(self) -> None:
        d = self._draft
        ref = self._reference_roi()
        if ref is None:
            return
        mask = np.zeros(ref.shape, dtype=bool)
        if d is not None:
            for p in d.points:  # the corners, as single voxels
                ijk = np.rint(ref.grid.world_to_voxel(p[None])[0]).astype(int)
                if np.all((ijk >= 0) & (ijk < ref.shape)):
                    mask[tuple(ijk)] = True
            if len(d.vertices) >= 3:
                edit = im.polygon_fill(im.ROI(np.zeros(ref.shape, bool), ref.affine), d.points,
                                       self._voxel_axis(ref, d.axis), world=True, preview=True)
                if edit.bbox is not None:
                    mask[edit.bbox] |= edit.new
        self._preview.show(mask, ref.affine)
        n = 0 if d is None else len(d.vertices)
        self._update_status(f"polygon: {n} corner(s)" + (" – Commit to fill" if n >= 3 else ""))

    def _live_preview(self) -> None:
        """Where the threshold / magic pen would paint at the crosshair (live preview on)."""
        pen = self.pen
        if not (self.preview_toggle.value and pen.startswith(("threshold-", "magic"))):
            if self._draft is None:
                self._preview.clear()
            return
        ref = self._reference_roi()
        if ref is None:
            return
        c = np.rint(ref.grid.world_to_voxel(np.asarray([self.viewer.position]))[0]).astype(int)
        mask = np.zeros(ref.shape, dtype=bool)
        if np.all((c >= 0) & (c < ref.shape)):
            axis = None if self.dims.value == "3-D" else self._voxel_axis(ref, "axial")
            empty = im.ROI(np.zeros(ref.shape, bool), ref.affine)
            edit = self._pen_edit(pen, empty, (int(c[0]), int(c[1]), int(c[2])), axis, False)
            if edit.bbox is not None:
                mask[edit.bbox] = edit.new
        self._preview.show(mask, ref.affine)

    # ------------------------------------------------------------ pens (viewer events)

    def stroke(self, points: Any, *, erase: bool = False, axis: str = "axial") -> im.Edit | None:
        """Draw with the current pen along world points (mm) – what one mouse stroke does.

        ``axis`` is the orientation of the slice drawn on (``"axial"``, ``"coronal"``,
        ``"sagittal"``) for 2-D pens and the polygon. Returns the edit recorded in the
        current ROI's history (None when nothing changed).
        """
        pts = np.asarray(points, dtype=float).reshape(-1, 3)
        self._last_edit = None
        try:
            self._pen("down", pts[:1], erase, axis)
            self._pen("move", pts[1:], erase, axis)
            self._pen("up", pts[:0], erase, axis)
        finally:
            self._stroke = None
        return self._last_edit

    def _on_draw(self, event: DrawEvent) -> None:
        try:
            self._pen(event.phase, np.asarray(event.world, dtype=float), event.erase, event.axis)
        except NoraError as exc:
            self._stroke = None
            self._update_status(f"⚠ {exc}")

    def _pen(self, phase: str, world: np.ndarray, erase: bool, axis: str) -> None:
        if self.pen == "polygon-click":
            self._click_polygon(phase, world, axis)
            return
        if phase == "down":
            if not self._entries:
                if self._background_volume() is None:
                    return
                self.new("roi")
            e = self._entry(None)
            self._stroke = _Stroke(e.roi.name, self.pen, erase=erase or self.pen == "eraser",
                                   axis=axis)
        stroke = self._stroke
        if stroke is None or stroke.name not in self._entries:
            return
        e = self._entries[stroke.name]
        if len(world):
            if stroke.label == "polygon":
                stroke.points.extend(world)
            elif stroke.label == "region-grow":
                if phase == "down":
                    self._paint(e, stroke, world[:1])
            else:
                self._paint(e, stroke, world)
        if phase == "up":
            self._stroke = None
            if stroke.label == "polygon" and len(stroke.points) >= 3:
                pts = np.asarray(stroke.points)
                axis_index = self._voxel_axis(e.roi, stroke.axis)
                edit = im.polygon_fill(e.roi, pts, axis_index, world=True, erase=stroke.erase,
                                       preview=True)
                self._paint_edit(e, stroke, edit)
            self._finish(e, stroke)

    def _paint(self, e: _Entry, stroke: _Stroke, world: np.ndarray) -> None:
        roi = e.roi
        ijk = np.rint(roi.grid.world_to_voxel(np.asarray(world, dtype=float))).astype(int)
        inside = np.all((ijk >= 0) & (ijk < np.asarray(roi.shape)), axis=1)
        axis = None if self.dims.value == "3-D" else self._voxel_axis(roi, stroke.axis)
        for c in ijk[inside]:
            centre = (int(c[0]), int(c[1]), int(c[2]))
            edit = self._pen_edit(stroke.label, roi, centre, axis, stroke.erase)
            self._paint_edit(e, stroke, edit)

    def _pen_edit(self, pen: str, roi: im.ROI, c: tuple[int, int, int], axis: int | None,
                  erase: bool) -> im.Edit:
        r = self.pen_size
        if pen in ("brush", "eraser"):
            return im.brush(roi, c, r, axis=axis, erase=erase, preview=True)
        contrast, window = self._contrast(roi)
        if pen.startswith("threshold-"):
            mode: Literal["higher", "lower"] = "higher" if "higher" in pen else "lower"
            return im.threshold_pen(roi, c, r, contrast, window, mode=mode,
                                    threshold=self._threshold(),  # type: ignore[arg-type]
                                    connected=pen.endswith("rgrow"), axis=axis, erase=erase,
                                    preview=True)
        if pen.startswith("magic"):
            return im.magic_pen(roi, c, r, contrast, window,
                                similarity=self.similarity_slider.value,
                                connected=pen == "magic-connected", axis=axis, erase=erase,
                                preview=True)
        if pen == "region-grow":
            return im.region_grow(roi, c, contrast, window, self.similarity_slider.value,
                                  erase=erase, preview=True)
        raise ImagingError(f"pen {pen!r} draws no strokes")

    def _paint_edit(self, e: _Entry, stroke: _Stroke, edit: im.Edit) -> None:
        if edit.bbox is None:
            return
        new = edit.new
        if np.array_equal(e.roi.data[edit.bbox], new):
            return
        stroke.grow(e.roi.data, edit.bbox)
        e.roi.data[edit.bbox] = new
        self._show_diff(e, edit.bbox, new)

    def _finish(self, e: _Entry, stroke: _Stroke) -> None:
        """Record the whole stroke as one edit of the ROI's history."""
        if stroke.box is None:
            return
        new = e.roi.data[stroke.box].copy()
        e.roi.data[stroke.box] = stroke.old
        edit = e.roi.apply(stroke.box, new, PENS.get(stroke.label, stroke.label).split(" (")[0])
        e.dirty = e.dirty or edit.changed > 0
        self._last_edit = edit if edit.changed else None
        self._update_row(e)
        self._update_status()

    def _on_key(self, event: KeyEvent) -> None:
        try:
            if event.action == "undo":
                self.undo()
            elif event.action == "redo":
                self.redo()
        except NoraError as exc:
            self._update_status(f"⚠ {exc}")

    # ------------------------------------------------------------ internals

    def _entry(self, name: str | None) -> _Entry:
        key = name or self._current
        if key not in self._entries:
            if not self._entries:
                raise ImagingError(
                    "the ROI tool has no ROI: make one with tool.new('name') or 'New ROI'")
            raise ImagingError(f"no ROI named {key!r}; the tool has {self.names}")
        return self._entries[key]

    def _unique(self, name: str) -> str:
        name = name.strip().replace("/", "_") or "roi"
        if name not in self._entries:
            return name
        for i in itertools.count(2):
            if f"{name}-{i}" not in self._entries:
                return f"{name}-{i}"
        raise AssertionError  # pragma: no cover

    def _guard(self, fn: Callable[[], Any]) -> None:
        guarded(lambda text: self._update_status(f"⚠ {text}"), fn)

    def _show(self, e: _Entry) -> None:
        keep = self.viewer.draw_target
        layer = self.viewer.set_mask(e.roi.data, e.roi.affine, name=f"ROI {e.roi.name}",
                                     color=e.color, opacity=float(self.opacity_slider.value),
                                     outline=bool(self.outline_box.value))
        e.layer = layer.id
        if keep and self._current and self._current != e.roi.name:
            self.viewer.draw_target = keep

    def _ensure_shown(self, e: _Entry) -> None:
        if not e.layer or not any(s["id"] == e.layer for s in self.viewer.layers):
            self._show(e)

    def _show_diff(self, e: _Entry, bbox: Any, values: np.ndarray) -> None:
        if bbox is None:
            return
        self._ensure_shown(e)
        self.viewer.update_mask(bbox, values, layer=e.layer)

    def _edited(self, e: _Entry, edit: im.Edit) -> im.Edit:
        if edit.bbox is not None:
            self._show_diff(e, edit.bbox, edit.new)
            e.dirty = True
        self._update_row(e)
        self._update_status(f"{edit.label}: {edit.changed} voxel(s) changed")
        return edit

    def _restyle(self) -> None:
        for e in self._entries.values():
            if e.layer and any(s["id"] == e.layer for s in self.viewer.layers):
                layer = self.viewer.layer(e.layer)
                layer.opacity = float(self.opacity_slider.value)
                layer.outline = bool(self.outline_box.value)

    def _background_spec(self) -> dict | None:
        av = self.viewer.active_viewport
        for s in reversed(self.viewer.layers):
            if s["role"] == "background" and av in s["viewports"]:
                return s
        return next((s for s in reversed(self.viewer.layers) if s["role"] == "background"), None)

    def _volume(self, layer_id: str) -> tuple[np.ndarray, np.ndarray]:
        """A viewer volume as (array of display values, affine) – scaled only if it must be."""
        data = self.viewer.layer(layer_id).volume
        arr: np.ndarray = data.data
        if data.slope != 1.0 or data.inter != 0.0:
            arr = arr.astype(np.float32) * np.float32(data.slope) + np.float32(data.inter)
        return arr, data.affine

    def _background_volume(self) -> tuple[np.ndarray, np.ndarray] | None:
        bg = self._background_spec()
        return None if bg is None else self._volume(bg["id"])

    def _contrast(self, roi: im.ROI) -> tuple[Any, tuple[float, float]]:
        bg = self._background_spec()
        if bg is None:
            raise ImagingError(
                f"pen {self.pen!r} reads the background image: open one in the viewer first")
        key = (bg["id"], bg["version"])
        if self._contrast_cache is None or self._contrast_cache[0] != key:
            self._contrast_cache = (key, self._volume(bg["id"]))
        level, width = self.viewer.window
        return self._contrast_cache[1], (level - width / 2.0, level + width / 2.0)

    def _threshold(self) -> float | str:
        text = self.threshold_box.value.strip().lower()
        if text in ("low", "high"):
            return text
        try:
            return float(text)
        except ValueError:
            raise ImagingError(
                f"threshold must be 'low', 'high' or a number, got {text!r}") from None

    @staticmethod
    def _voxel_axis(roi: im.ROI, axis_name: str) -> int:
        """The ROI's voxel axis closest to the world axis across the slice drawn on."""
        w = _WORLD_AXIS.get(axis_name, 2)
        m = roi.affine[:3, :3]
        return int(np.argmax(np.abs(m[w, :]) / np.linalg.norm(m, axis=0)))

    def _build_row(self, e: _Entry) -> None:
        name = e.roi.name
        e.label = W.HTML(layout=W.Layout(width="230px"))
        e.current = W.ToggleButton(value=False, description="✎", tooltip="current ROI (drawn into)",
                                   layout=W.Layout(width="34px"))
        e.visible = W.ToggleButton(value=True, description="👁", tooltip="visible",
                                   layout=W.Layout(width="34px"))
        e.current.observe(
            lambda c, n=name: self._guard(lambda: self.make_current(n)) if c.new else None,
            "value")
        e.visible.observe(lambda c, n=name: self._guard(lambda: self.set_visible(n, c.new)),
                          "value")
        buttons = []
        for text, tip, fn in (("◎", "focus on the centre of gravity", self.focus_roi),
                              ("💾", "save into the study (rois/)", self.save),
                              ("⬇", "download", self.download),
                              ("⌫", "clear all voxels", self.clear),
                              ("✕", "delete from the list", self.delete)):
            b = _button(text, tip)
            b.on_click(lambda _, f=fn, n=name: self._guard(lambda: f(n)))
            buttons.append(b)
        e.row = W.HBox([e.current, e.visible, e.label, *buttons])
        e.row.add_class("nora-roi-row")
        self._update_row(e)

    def _update_row(self, e: _Entry) -> None:
        if e.label is None:
            return
        roi = e.roi
        mark = " *" if e.dirty else ""
        e.label.value = (
            f"<span style='color:{e.color}'>■</span> <b>{html.escape(roi.name)}</b>{mark} "
            f"{roi.count} vx · {roi.volume_ml:.3g} mL · "
            f"<span class='nora-roi-matrix'>{'×'.join(str(n) for n in roi.shape)}</span>")

    def _refresh_choices(self) -> None:
        self.op_other.options = self.names
        self.op_other.value = self.names[0] if self.names else None

    def _update_status(self, note: str = "") -> None:
        cur = self.current
        head = (
            f"current ROI: {html.escape(cur.name)} · {cur.count} voxels · {cur.volume_ml:.4g} mL"
                if cur is not None else "no ROI")
        tail = f" · {html.escape(note, quote=False)}" if note else ""
        voxels = cur.count if cur else 0
        corners = html.escape(json.dumps(np.round(self.polygon_vertices, 2).tolist()))
        self.status.value = (f"<span class='nora-roi-state' data-voxels='{voxels}' "
                             f"data-polygon='{corners}'>{head}{tail}</span>")

"""The fiber tool: NORA's fiber viewer — select streamlines, crop, see their maps.

A tractogram (TCK/TRK file or streamlines, world mm) is shown in the viewer. A
*selection* (one boolean per current streamline, :attr:`FiberTool.selection`) is made
by a sphere (in the page: hold shift, a sphere follows the mouse; a click selects the
fibers through it; ``+``/``-`` change its radius), by an ROI, or by marker waypoints
(:func:`nora_lab.imaging.through_sphere`, :func:`~nora_lab.imaging.through_roi`,
:func:`~nora_lab.imaging.by_waypoints`). :meth:`keep` and :meth:`delete` crop the
tractogram to or by it; each crop is undoable (:meth:`undo`, :meth:`redo`), so a tract
is cleaned iteratively. The selection is shown as a second, yellow fiber layer.

With live maps on, the visitation and terminal maps
(:func:`~nora_lab.imaging.visitation_map`, :func:`~nora_lab.imaging.terminal_map`) of
the selection (or, without one, of every current streamline) are overlays on the
reference grid (the background's by default), redrawn after every change;
:attr:`FiberTool.maps` holds them. While the sphere moves with shift held they show what
a click there would select (:meth:`FiberTool.preview_sphere`; the page sends the
sphere's latest place when Python has answered the one before, so the maps follow as
fast as the kernel computes them and never queue). :meth:`save` writes the current streamlines (or
the selection) as ``.tck`` into the study.
"""

from __future__ import annotations

import html
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as W
import nibabel as nib
import numpy as np
import traitlets as t

from nora_lab import imaging as im
from nora_lab.errors import ArchiveError, ImagingError
from nora_lab.imaging.fibers import as_streamlines

from ._guard import guarded

if TYPE_CHECKING:  # pragma: no cover
    from nibabel.streamlines import ArraySequence

    from nora_lab.archive.project import Project

    from .viewer import Viewer

__all__ = ["FiberTool"]

FIBERS, SELECTION = "fibers", "fiber selection"
MAP_LAYERS = {"visitation": ("visitation map", "hot"), "terminals": ("terminal map", "cool")}
MODES = ("replace", "add", "intersect", "subtract")


class FiberTool(W.VBox):
    """NORA's fiber viewer over a viewer.

    Parameters
    ----------
    viewer : Viewer
        Shows the fibers, the selection and the maps; reports shift + mouse spheres.
    project, psid : optional
        Where :meth:`save` writes.
    radius_mm : float
        The sphere's radius.

    Attributes
    ----------
    radius : float
        The selection sphere's radius in mm (a traitlet, synced to the page's sphere).
    live_maps : bool
        Whether the visitation and terminal maps follow every change (a traitlet).
    mode : {"replace", "add", "intersect", "subtract"}
        How a new sphere/ROI/waypoint selection combines with the current one.

    Examples
    --------
    >>> ft = FiberTool(viewer, proj, "P001#S1")                # doctest: +SKIP
    >>> ft.load("cst.tck"); ft.select_sphere((20, -10, 5))      # doctest: +SKIP
    >>> ft.keep(); ft.save("fibers/cst_clean.tck")               # doctest: +SKIP
    """

    radius = t.Float(5.0)
    live_maps = t.Bool(False)
    mode = t.Enum(MODES, default_value="replace")

    def __init__(self, viewer: Viewer, project: Project | None = None, psid: str | None = None,
                 *, radius_mm: float = 5.0, **kwargs: Any):
        self.viewer = viewer
        self.project = project
        self.psid = psid
        self.name = ""
        self._all: ArraySequence | None = None
        self._kept = np.zeros(0, dtype=np.int64)    # indices into _all of the current fibers
        self._selection = np.zeros(0, dtype=bool)   # over the current fibers
        self._undo: list[np.ndarray] = []
        self._redo: list[np.ndarray] = []
        self._maps: dict[str, nib.Nifti1Image] = {}
        self._preview: np.ndarray | None = None     # what a click at the sphere would select
        self._hover_seq = 0                          # the page's last sphere place answered
        self.reference: Any = None                   # the maps' grid; None: the background

        self.radius_box = W.BoundedFloatText(value=radius_mm, min=0.5, max=100.0, step=0.5,
                                             description="sphere mm",
                                             layout=W.Layout(width="170px"))
        W.link((self, "radius"), (self.radius_box, "value"))
        self.mode_picker = W.Dropdown(options=list(MODES), description="mode",
                                      layout=W.Layout(width="190px"))
        W.link((self, "mode"), (self.mode_picker, "value"))
        self.maps_toggle = W.ToggleButton(description="live maps", icon="fire",
                                          layout=W.Layout(width="110px"))
        self.maps_toggle.add_class("nora-fiber-maps")
        W.link((self, "live_maps"), (self.maps_toggle, "value"))
        buttons = {}
        for label, fn in (("keep", self.keep), ("delete", self.delete), ("clear", self.clear),
                          ("↶", self.undo), ("↷", self.redo), ("save .tck", self.save)):
            b = W.Button(description=label, layout=W.Layout(width="auto"))
            b.on_click(lambda _, fn=fn: self._guard(fn))
            b.add_class(f"nora-fiber-{label.split()[0].replace('↶', 'undo').replace('↷', 'redo')}")
            buttons[label] = b
        self.buttons = buttons
        self.status = W.HTML()
        self.status.add_class("nora-fiber-status")
        super().__init__(children=[
            W.HTML("<b>Fiber tool</b> · shift + mouse: a sphere; click selects"),
            W.HBox([self.radius_box, self.mode_picker, self.maps_toggle]),
            W.HBox(list(buttons.values())), self.status,
        ], **kwargs)
        self.radius = float(radius_mm)
        self.add_class("nora-fiber-tool")
        viewer.on_msg(self._on_msg)
        self._update()

    # ------------------------------------------------------------ the tractogram

    def load(self, source: Any, name: str | None = None) -> ArraySequence:
        """Show a tractogram (a .tck/.trk path, streamlines or a Tractogram); the tool
        forgets its history."""
        if isinstance(source, str | Path):
            seq = im.load_streamlines(source, reference=self._reference_or_none())
            name = name or Path(source).name
        else:
            seq = as_streamlines(source)
        if len(seq) == 0:
            raise ImagingError(f"{name or 'the tractogram'} holds no streamlines")
        self._all = seq
        self.name = name or "fibers"
        self._kept = np.arange(len(seq))
        self._selection = np.zeros(len(seq), dtype=bool)
        self._undo.clear()
        self._redo.clear()
        self._changed(f"loaded {len(seq)} streamline(s)", fibers=True)
        return seq

    @property
    def streamlines(self) -> ArraySequence:
        """The current streamlines (after every keep/delete)."""
        return self._seq()[self._kept]

    @property
    def selection(self) -> np.ndarray:
        """One bool per current streamline: the selection (a copy); settable."""
        return self._selection.copy()

    @selection.setter
    def selection(self, mask: Any) -> None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != self._kept.shape:
            raise ImagingError(f"a selection needs {len(self._kept)} entries (one per current "
                               f"streamline), got shape {m.shape}")
        self._selection = m
        self._changed()

    @property
    def selected(self) -> ArraySequence:
        """The selected streamlines."""
        return self._seq()[self._kept[self._selection]]

    @property
    def maps(self) -> dict[str, nib.Nifti1Image]:
        """The last visitation and terminal maps (``"visitation"``, ``"terminals"``): of
        the :attr:`preview` while there is one, else of the selection."""
        return dict(self._maps)

    @property
    def preview(self) -> np.ndarray | None:
        """What a click at the moving sphere would select (one bool per current
        streamline), or None when no sphere is shown; see :meth:`preview_sphere`."""
        return None if self._preview is None else self._preview.copy()

    # ------------------------------------------------------------ selecting

    def select_sphere(self, centre: Sequence[float], radius: float | None = None,
                      mode: str | None = None) -> np.ndarray:
        """Select the fibers passing within ``radius`` mm (default :attr:`radius`) of
        ``centre``; combined with the selection by ``mode`` (default :attr:`mode`)."""
        r = self.radius if radius is None else float(radius)
        return self._select(im.through_sphere(self.streamlines, centre, r), mode,
                            f"sphere r={r:g} mm")

    def preview_sphere(self, centre: Sequence[float] | None, radius: float | None = None,
                       mode: str | None = None) -> np.ndarray | None:
        """Show in the live maps what :meth:`select_sphere` at ``centre`` would select,
        leaving the selection as it is (the page calls it while the sphere moves with
        shift held); ``centre=None`` ends the preview and the maps show the selection.

        Returns
        -------
        ndarray of bool or None
            The previewed selection (one entry per current streamline).
        """
        self._preview_at(centre, radius, mode)
        self._tell_page()
        return self.preview

    def _preview_at(self, centre: Sequence[float] | None, radius: float | None = None,
                    mode: str | None = None) -> None:
        if centre is None:
            if self._preview is not None:
                self._preview = None
                self._refresh_maps()
            return
        r = self.radius if radius is None else float(radius)
        hit = im.through_sphere(self.streamlines, centre, r)
        self._preview = self._combine(hit, mode)
        self._refresh_maps(f"sphere r={r:g} mm: {int(hit.sum())} hit")

    def select_roi(self, roi: Any, *, endpoints_only: bool = False,
                   mode: str | None = None) -> np.ndarray:
        """Select the fibers through an ROI (an :class:`~nora_lab.imaging.ROI`, an image, a
        mask layer's name)."""
        if isinstance(roi, str):
            vol = self.viewer.layer(roi).volume
            roi = (vol.data, vol.affine)
        return self._select(im.through_roi(self.streamlines, roi, endpoints_only=endpoints_only),
                            mode, "ROI")

    def select_waypoints(self, waypoints: Any, radius: float | None = None, *,
                         ordered: bool = False, mode: str | None = None) -> np.ndarray:
        """Select the fibers passing near every waypoint (a PointSet or (N, 3) mm)."""
        r = self.radius if radius is None else float(radius)
        n = len(np.reshape(getattr(waypoints, "coords", waypoints), (-1, 3)))
        return self._select(im.by_waypoints(self.streamlines, waypoints, r, ordered=ordered),
                            mode, f"{n} waypoint(s)")

    def _combine(self, hit: np.ndarray, mode: str | None) -> np.ndarray:
        mode = self.mode if mode is None else mode
        if mode not in MODES:
            raise ImagingError(f"unknown selection mode {mode!r}; use one of {MODES}")
        cur = self._selection
        return {"replace": hit, "add": cur | hit, "intersect": cur & hit,
                "subtract": cur & ~hit}[mode]

    def _select(self, hit: np.ndarray, mode: str | None, what: str) -> np.ndarray:
        self._selection = self._combine(hit, mode)
        self._changed(f"{what}: {int(hit.sum())} hit")
        return self.selection

    def clear(self) -> None:
        """Select nothing."""
        self.selection = np.zeros(len(self._kept), dtype=bool)

    # ------------------------------------------------------------ cropping

    def keep(self) -> ArraySequence:
        """Crop to the selection (undoable)."""
        return self._crop(self._selection, "kept")

    def delete(self) -> ArraySequence:
        """Remove the selection (undoable)."""
        return self._crop(~self._selection, "deleted")

    def _crop(self, keep: np.ndarray, verb: str) -> ArraySequence:
        self._seq()
        if not self._selection.any():
            raise ImagingError("nothing is selected: shift+click a sphere, or select_sphere(...)")
        self._undo.append(self._kept)
        self._redo.clear()
        n = int(self._selection.sum())
        self._set_kept(self._kept[keep], f"{verb} {n} streamline(s)")
        return self.streamlines

    def undo(self) -> bool:
        """Undo the last keep/delete; False if there is none."""
        return self._step(self._undo, self._redo, "undone")

    def redo(self) -> bool:
        """Redo what :meth:`undo` undid; False if there is none."""
        return self._step(self._redo, self._undo, "redone")

    def _step(self, take: list[np.ndarray], put: list[np.ndarray], verb: str) -> bool:
        if not take:
            self._update(f"nothing to {'undo' if verb == 'undone' else 'redo'}")
            return False
        put.append(self._kept)
        self._set_kept(take.pop(), verb)
        return True

    def _set_kept(self, kept: np.ndarray, note: str) -> None:
        self._kept = kept
        self._selection = np.zeros(len(kept), dtype=bool)
        self._changed(note, fibers=True)

    # ------------------------------------------------------------ saving

    def save(self, relpath: str | None = None, *, selection: bool = False,
             path: str | Path | None = None, overwrite: bool = True) -> Path:
        """Write the current streamlines (or the selection) as .tck.

        Into the study at ``relpath`` (default ``fibers/<name>_edit.tck``, tagged
        ``fibers``), or with ``path`` to that file outside the archive.
        """
        seq = self.selected if selection else self.streamlines
        if path is not None:
            return im.save_streamlines(seq, path)
        if self.project is None or not self.psid:
            raise ArchiveError("saving fibers needs a project and a study: FiberTool(viewer, "
                               "project, psid), or save(path=...)")
        stem = Path(self.name).name.split(".")[0] or "fibers"
        relpath = relpath or f"fibers/{stem}_edit.tck"
        if not relpath.endswith(".tck"):
            raise ImagingError(f"{relpath}: the fiber tool saves .tck files")
        with tempfile.TemporaryDirectory() as tmp:
            out = im.save_streamlines(seq, Path(tmp) / "fibers.tck")
            dest = self.project.add_file(out, self.psid, relpath, tags=["fibers"],
                                         overwrite=overwrite)
        self._update(f"saved {len(seq)} streamline(s) as {self.psid}/{relpath}")
        return dest

    # ------------------------------------------------------------ display

    def _seq(self) -> ArraySequence:
        if self._all is None:
            raise ImagingError("the fiber tool has no tractogram: tool.load('tract.tck')")
        return self._all

    def _reference_or_none(self) -> Any:
        if self.reference is not None:
            return self.reference
        bg = next((s for s in reversed(self.viewer.layers) if s["role"] == "background"), None)
        if bg is None:
            return None
        vol = self.viewer.layer(bg["id"]).volume
        return im.Grid(vol.shape, vol.affine)

    def _show(self, name: str, seq: ArraySequence, color: str) -> None:
        try:
            self.viewer.close_layer(name)
        except ImagingError:
            pass
        if len(seq):
            tract = nib.streamlines.Tractogram(seq, affine_to_rasmm=np.eye(4))
            self.viewer.open(tract, viewport="all", name=name, color=color)

    def _show_maps(self) -> None:
        grid = self._reference_or_none()
        if grid is None:
            return
        shown = self._selection if self._preview is None else self._preview
        seq = self._seq()[self._kept[shown]] if shown.any() else self.streamlines
        self._maps = {"visitation": im.visitation_map(seq, grid),
                      "terminals": im.terminal_map(seq, grid)}
        for key, img in self._maps.items():
            name, cmap = MAP_LAYERS[key]
            try:
                self.viewer.close_layer(name)
            except ImagingError:
                pass
            counts = np.asarray(img.dataobj)
            self.viewer.open(counts.astype(np.uint16), "all", "overlay", affine=img.affine,
                             name=name, colormap=cmap, opacity=0.7,
                             window=(max(counts.max(), 1) / 2, max(counts.max(), 1)))

    def _refresh_maps(self, note: str = "") -> None:
        """The live maps again (of the preview or the selection)."""
        if self.live_maps:
            with self.viewer.hold_sync():
                self._show_maps()
        self._update(note)

    def _changed(self, note: str = "", *, fibers: bool = False) -> None:
        self._preview = None
        with self.viewer.hold_sync():
            if fibers:
                self._show(FIBERS, self.streamlines, "white")
            self._show(SELECTION, self.selected, "yellow")
            if self.live_maps:
                self._show_maps()
        self._tell_page()
        self._update(note)

    @t.observe("live_maps")
    def _maps_toggled(self, change: t.Bunch) -> None:
        if self._all is None:
            return
        if change.new:
            self._guard(self._refresh_maps)  # the status line names the maps too
        else:
            self._maps = {}
            self._update()
            for name, _ in MAP_LAYERS.values():
                try:
                    self.viewer.close_layer(name)
                except ImagingError:
                    pass

    @t.observe("radius")
    def _radius_changed(self, _change: t.Bunch) -> None:
        self._tell_page()

    def _tell_page(self) -> None:
        if getattr(self.viewer, "_frontend_ready", False):
            self.viewer.send({"type": "fiber", "active": self._all is not None,
                              "radius": float(self.radius),
                              "selected": int(self._selection.sum()),
                              "count": int(len(self._kept)), "hover": self._hover_seq,
                              "preview": -1 if self._preview is None
                              else int(self._preview.sum())})

    def _on_msg(self, _widget: Any, content: dict, _buffers: list) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind in ("ready", "tools_ready"):  # a page (re)loaded, a view rendered
            self._tell_page()
        elif kind == "fiber_sphere" and self._all is not None:
            centre = [float(v) for v in content.get("centre") or ()]
            if "radius" in content:
                self.radius = float(content["radius"])
            self._guard(lambda: self.select_sphere(centre))
        elif kind == "fiber_hover" and self._all is not None:
            self._hover_seq = int(content.get("seq", 0))
            at = content.get("centre")
            if "radius" in content:  # shift + wheel sized the sphere in the page
                self._guard(lambda: setattr(self, "radius", float(content["radius"])))
            self._guard(lambda: self._preview_at(
                None if at is None else [float(v) for v in at]))
            self._tell_page()  # the answer the page waits for before its next place

    def _guard(self, fn: Callable[[], Any]) -> None:
        guarded(lambda text: self._update(f"⚠ {text}"), fn)

    def _update(self, note: str = "") -> None:
        n = len(self._kept)
        sel = int(self._selection.sum())
        pre = "" if self._preview is None else f"data-preview='{int(self._preview.sum())}' "
        head = (f"{html.escape(self.name)}: {n} streamline(s), {sel} selected"
                if self._all is not None else "no tractogram")
        tail = f" · {html.escape(note, quote=False)}" if note else ""
        sums = " ".join(f"data-{k}='{int(np.asarray(img.dataobj).sum())}'"
                        for k, img in self._maps.items())  # the maps Python holds
        self.status.value = (f"<span class='nora-fiber-state' data-count='{n}' "
                             f"data-selected='{sel}' {pre}{sums}>{head}{tail}</span>")

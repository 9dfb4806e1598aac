"""The oblique MPR: one viewport of the viewer shows the background reformatted on a plane.

The plane (:attr:`ObliqueMPR.plane`, a 4×4 plane → world matrix, see
:mod:`nora_lab.imaging.oblique`) is readable and settable from Python. In the page,
ctrl + left drag in the MPR viewport turns it about its centre (horizontal: about the
plane's vertical axis, vertical: about its horizontal axis) and ctrl + shift + drag moves
it along its normal (``mpr_drag`` messages; :file:`js/src/mpr.js`). The reformatted slice
is a one-voxel-thick volume on the plane's grid (:func:`~nora_lab.imaging.plane_grid`),
opened as that viewport's background, so what is drawn on it — ROI strokes, clicks —
arrives in world mm and lands in the right voxels of any ROI.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

import ipywidgets as W
import numpy as np
import traitlets as t

from nora_lab import imaging as im
from nora_lab.errors import ImagingError

from ._guard import guarded

if TYPE_CHECKING:  # pragma: no cover
    from .viewer import Viewer

__all__ = ["ObliqueMPR"]

LAYER = "oblique MPR"
DEG_PER_PX = 0.5  # a ctrl drag turns the plane by half a degree per pixel


class ObliqueMPR(W.VBox):
    """An oblique reformatting of the viewer's background in one of its viewports.

    Parameters
    ----------
    viewer : Viewer
    viewport : int
        The viewport showing the oblique slice (e.g. 1 in a ``"1x2"`` layout).
    size_mm, spacing_mm : float
        The slice's edge and pixel size.

    Examples
    --------
    >>> mpr = ObliqueMPR(viewer, viewport=1)                       # doctest: +SKIP
    >>> mpr.set_plane(centre=viewer.position, normal=(0, 1, 1))     # doctest: +SKIP
    >>> mpr.tilt(about_u_deg=10)                                    # doctest: +SKIP
    """

    active = t.Bool(True)

    def __init__(self, viewer: Viewer, viewport: int = 1, *, size_mm: float = 200.0,
                 spacing_mm: float = 1.0, **kwargs: Any):
        self.viewer = viewer
        self.viewport = int(viewport)
        self.size_mm = float(size_mm)
        self.spacing_mm = float(spacing_mm)
        self._plane = im.plane_matrix(viewer.position, (0.0, 0.0, 1.0))
        self.layer = ""
        self.status = W.HTML()
        self.status.add_class("nora-mpr-status")
        self.reset_button = W.Button(description="axial again", layout=W.Layout(width="110px"))
        self.reset_button.on_click(lambda _: self._guard(
            lambda: self.set_plane(self.viewer.position, (0.0, 0.0, 1.0))))
        super().__init__(children=[
            W.HTML("<b>Oblique MPR</b> · ctrl + drag turns the plane, ctrl + shift + drag "
                   "moves it along its normal"),
            W.HBox([self.reset_button]), self.status], **kwargs)
        self.add_class("nora-mpr-tool")
        viewer.on_msg(self._on_msg)
        self._show()

    @property
    def plane(self) -> np.ndarray:
        """The plane → world matrix (columns: in-plane axes u, v, normal, centre); a copy."""
        return self._plane.copy()

    @plane.setter
    def plane(self, value: Any) -> None:
        p = np.asarray(value, dtype=float)
        im.plane_grid(p, self.size_mm, self.spacing_mm)  # validates
        self._plane = p
        self._show()

    @property
    def normal(self) -> np.ndarray:
        return self._plane[:3, 2].copy()

    @property
    def grid(self) -> im.Grid:
        """The grid of the oblique slice."""
        return im.plane_grid(self._plane, self.size_mm, self.spacing_mm)

    def set_plane(self, centre: Any, normal: Any, up: Any = (0.0, 0.0, 1.0)) -> np.ndarray:
        """Reformat on the plane through ``centre`` (mm) with ``normal``."""
        self.plane = im.plane_matrix(centre, normal, up)
        return self.plane

    def tilt(self, about_u_deg: float = 0.0, about_v_deg: float = 0.0,
             shift_mm: float = 0.0) -> np.ndarray:
        """Turn the plane about its own axes and move it along its normal."""
        self.plane = im.tilt_plane(self._plane, about_u_deg, about_v_deg, shift_mm)
        return self.plane

    def slice(self) -> Any:
        """The reformatted slice as a nibabel image (one voxel thick, on :attr:`grid`)."""
        bg = next((s for s in reversed(self.viewer.layers)
                   if s["role"] == "background" and s["name"] != LAYER), None)
        if bg is None:
            raise ImagingError("the oblique MPR reformats the background: open an image first")
        vol = self.viewer.layer(bg["id"]).volume
        data = vol.data if vol.slope == 1.0 and vol.inter == 0.0 else \
            vol.data * vol.slope + vol.inter
        return im.resample_to_grid((np.asarray(data), vol.affine), self.grid, order=1, cval=0.0)

    def _show(self) -> None:
        if not any(s["role"] == "background" and s["name"] != LAYER for s in self.viewer.layers):
            self._update("open an image: the MPR reformats the background")
            return
        img = self.slice()
        keep = self.viewer.draw_target
        self.layer = self.viewer.open(np.asarray(img.dataobj), self.viewport, "background",
                                      affine=img.affine, name=LAYER).id
        self.viewer.draw_target = keep
        self._tell_page()
        self._update()

    def _tell_page(self) -> None:
        if getattr(self.viewer, "_frontend_ready", False):
            self.viewer.send({"type": "mpr", "active": bool(self.active),
                              "viewport": self.viewport})

    def _on_msg(self, _widget: Any, content: dict, _buffers: list) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind in ("ready", "tools_ready"):
            self._tell_page()
        elif kind == "mpr_drag" and self.active:
            dx, dy = float(content.get("dx", 0.0)), float(content.get("dy", 0.0))
            if content.get("shift"):
                self._guard(lambda: self.tilt(shift_mm=-dy * self.spacing_mm))
            else:
                self._guard(lambda: self.tilt(about_u_deg=dy * DEG_PER_PX,
                                              about_v_deg=dx * DEG_PER_PX))

    def _guard(self, fn: Any) -> None:
        guarded(lambda text: self._update(f"⚠ {text}"), fn)

    def _update(self, note: str = "") -> None:
        n = ", ".join(f"{v:.2f}" for v in self._plane[:3, 2])
        c = ", ".join(f"{v:.1f}" for v in self._plane[:3, 3])
        data = html.escape(json.dumps(np.round(self._plane, 4).ravel().tolist()))
        tail = f" · {html.escape(note, quote=False)}" if note else ""
        self.status.value = (f"<span class='nora-mpr-state' data-plane='{data}'>normal ({n}) "
                             f"through ({c}) mm{tail}</span>")

"""The ROI tool's two editors that show something before it is drawn into the ROI.

* :class:`PolygonDraft` — a polygon placed click by click in ROI edit mode: a press away
  from every corner adds a corner (and drags it while the button is held), a press on a
  corner grabs it and drags it; nothing is drawn into the ROI until the tool commits it
  (:func:`nora_lab.imaging.polygon_fill`).
* :class:`PreviewLayer` — one mask layer of the viewer (``"ROI preview"``) showing what
  would be drawn: the draft polygon, or where the threshold/magic pen would paint at the
  crosshair (the live preview). It is updated by bounding-box diffs, never drawn into.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nora_lab.errors import ImagingError
from nora_lab.imaging.roi import bbox_of

if TYPE_CHECKING:  # pragma: no cover
    from .viewer import Viewer

__all__ = ["PolygonDraft", "PreviewLayer", "PREVIEW_LAYER"]

PREVIEW_LAYER = "ROI preview"


@dataclass
class PolygonDraft:
    """Corners (world mm) of a polygon being placed on slices of one orientation."""

    axis: str = "axial"
    vertices: list[np.ndarray] = field(default_factory=list)
    grabbed: int | None = None

    def press(self, world: Any, reach_mm: float) -> int:
        """A press at ``world``: grab the corner within ``reach_mm``, or add one there.
        Returns the corner's index."""
        p = np.asarray(world, dtype=float).reshape(3)
        if self.vertices:
            d = np.linalg.norm(np.asarray(self.vertices) - p, axis=1)
            i = int(np.argmin(d))
            if d[i] <= reach_mm:
                self.grabbed = i
                return i
        self.vertices.append(p)
        self.grabbed = len(self.vertices) - 1
        return self.grabbed

    def drag(self, world: Any) -> None:
        """Move the grabbed corner (if any) to ``world``."""
        if self.grabbed is not None:
            self.vertices[self.grabbed] = np.asarray(world, dtype=float).reshape(3)

    def release(self) -> None:
        self.grabbed = None

    def move(self, index: int, world: Any) -> None:
        """Move corner ``index`` to ``world`` (mm)."""
        if not -len(self.vertices) <= index < len(self.vertices):
            raise ImagingError(
                f"the polygon has no corner {index}; it has {len(self.vertices)} corner(s)")
        self.vertices[index] = np.asarray(world, dtype=float).reshape(3)

    @property
    def points(self) -> np.ndarray:
        return np.asarray(self.vertices, dtype=float).reshape(-1, 3)


class PreviewLayer:
    """A mask layer of the viewer (default ``"ROI preview"``) on one grid, updated by diffs,
    shown and never drawn into."""

    def __init__(self, viewer: Viewer, color: str = "cyan", name: str = PREVIEW_LAYER):
        self.viewer = viewer
        self.color = color
        self.name = name
        self.mask: np.ndarray | None = None
        self.affine: np.ndarray | None = None
        self.layer = ""

    def _alive(self) -> bool:
        return bool(self.layer) and any(s["id"] == self.layer for s in self.viewer.layers)

    def show(self, mask: np.ndarray, affine: np.ndarray) -> None:
        """Show ``mask`` (the whole preview) on the grid ``affine``; sends only what changed."""
        mask = np.asarray(mask, dtype=bool)
        same = (self.mask is not None and self.affine is not None and self._alive()
                and self.mask.shape == mask.shape and np.allclose(self.affine, affine))
        if not same:
            if not mask.any() and not self._alive():
                return
            keep = self.viewer.draw_target
            self.layer = self.viewer.set_mask(mask, affine, name=self.name, color=self.color,
                                              opacity=0.6, outline=False).id
            self.viewer.draw_target = keep  # shown, never drawn into
            self.mask, self.affine = mask.copy(), np.asarray(affine, dtype=float)
            return
        assert self.mask is not None
        box = bbox_of(self.mask != mask)
        if box is None:
            return
        self.mask[box] = mask[box]
        self.viewer.update_mask(box, self.mask[box], layer=self.layer)

    def clear(self) -> None:
        """Show nothing (the layer stays, empty)."""
        if self.mask is not None and self.affine is not None:
            self.show(np.zeros_like(self.mask), self.affine)

    @property
    def voxels(self) -> int:
        return 0 if self.mask is None else int(self.mask.sum())

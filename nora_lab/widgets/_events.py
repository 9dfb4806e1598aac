"""Events the viewer's front end reports to Python.

A *pen stroke* is reported as a sequence of :class:`DrawEvent` s – one
``"down"``, any number of ``"move"`` and one ``"up"`` – while the viewer is
in ROI edit mode (``viewer.drawing = True``, or the space bar in the
viewer, as in NORA). The kernel computes what the pen does (with
``nora_lab.imaging``) and sends the change back with
:meth:`Viewer.update_mask`; the front end never edits voxels itself.

Mouse buttons follow the DOM ``MouseEvent.buttons`` bit mask: 1 = left
(draw), 2 = right (erase), 4 = middle.

Outside ROI edit mode a left click (without drag) is reported as a
:class:`ClickEvent` (the marker tool adds points with it), and the keys that
Python acts on – ``ctrl+z`` / ``shift+ctrl+z`` / ``ctrl+y`` (undo, redo) and
the arrow keys up/down (previous/next study) – as a :class:`KeyEvent`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DrawEvent", "ClickEvent", "KeyEvent"]

LEFT, RIGHT, MIDDLE = 1, 2, 4


@dataclass(frozen=True)
class DrawEvent:
    """One piece of a pen stroke, in the target layer's voxel grid.

    Attributes
    ----------
    phase : {"down", "move", "up"}
    buttons : int
        ``MouseEvent.buttons`` bit mask (1 left, 2 right, 4 middle).
    viewport : int
        Viewport the stroke is drawn in.
    axis : str
        Orientation of the slice under the pen: ``"axial"``, ``"coronal"``,
        ``"sagittal"`` (or ``""`` when unknown).
    world : numpy.ndarray
        ``(N, 3)`` float64 world (RAS mm) positions of the pen since the last event.
    voxels : numpy.ndarray
        ``(N, 3)`` int64 nearest voxel indices of ``world`` in ``layer``'s grid.
    inside : numpy.ndarray
        ``(N,)`` bool, whether each voxel lies inside that grid.
    layer : str
        Name of the layer whose grid ``voxels`` refer to (the draw target:
        the current mask, else the active viewport's background).
    layer_id : str
    shift, ctrl : bool
        Modifier keys held.
    """

    phase: str
    buttons: int
    viewport: int
    axis: str
    world: np.ndarray
    voxels: np.ndarray
    inside: np.ndarray
    layer: str
    layer_id: str
    shift: bool = False
    ctrl: bool = False

    @property
    def erase(self) -> bool:
        """True when the right button is down (NORA: right button erases)."""
        return bool(self.buttons & RIGHT)


@dataclass(frozen=True)
class ClickEvent:
    """A left click in a viewport (not in ROI edit mode, not a drag).

    Attributes
    ----------
    viewport : int
    axis : str
        Orientation of the slice clicked (``"axial"``, ``"coronal"``, ``"sagittal"``, ``""``).
    world : tuple of 3 floats
        World (RAS mm) position clicked – where the crosshair now is.
    shift, ctrl : bool
    """

    viewport: int
    axis: str
    world: tuple[float, float, float]
    shift: bool = False
    ctrl: bool = False


@dataclass(frozen=True)
class KeyEvent:
    """A key pressed in the viewer that Python acts on.

    Attributes
    ----------
    key : str
        ``"z"``, ``"y"`` (with ``ctrl``), ``"ArrowUp"`` or ``"ArrowDown"``.
    ctrl, shift, alt : bool
    """

    key: str
    ctrl: bool = False
    shift: bool = False
    alt: bool = False

    @property
    def action(self) -> str:
        """``"undo"``, ``"redo"``, ``"previous"``, ``"next"`` or ``""``."""
        if self.ctrl and self.key == "z":
            return "redo" if self.shift else "undo"
        if self.ctrl and self.key == "y":
            return "redo"
        if not self.ctrl and self.key == "ArrowUp":
            return "previous"
        if not self.ctrl and self.key == "ArrowDown":
            return "next"
        return ""

"""Events the viewer's front end reports to Python.

A *pen stroke* is reported as a sequence of :class:`DrawEvent` s – one
``"down"``, any number of ``"move"`` and one ``"up"`` – while the viewer is
in ROI edit mode (``viewer.drawing = True``, or the space bar in the
viewer, as in NORA). The kernel computes what the pen does (with
``nora_lab.imaging``) and sends the change back with
:meth:`Viewer.update_mask`; the front end never edits voxels itself.

Mouse buttons follow the DOM ``MouseEvent.buttons`` bit mask: 1 = left
(draw), 2 = right (erase), 4 = middle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DrawEvent"]

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

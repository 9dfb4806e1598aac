"""The assistant session: one image, one backend, the interactions so far.

>>> a = Assistant(t1_img)                        # backend from assist.yaml (default cpu)
>>> a.add_point((92, 110, 80))                   # a positive click (voxel indices)
>>> a.add_point((60, 100, 80), positive=False)   # a negative one
>>> a.add_box((70, 90, 80), (110, 130, 80))      # a 2-D box on slice k = 80
>>> roi = a.result("wm")                         # an ROI on the image's grid
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from nora_lab.errors import AssistError
from nora_lab.imaging import ROI

from .backend import Backend, Proposal
from .config import settings
from .interactions import Box, Interaction, Lasso, Point, Scribble

__all__ = ["Assistant", "make_backend"]


def make_backend(backend: str | Backend | None = None, **overrides: Any) -> Backend:
    """A backend by name (settings from ``assist.yaml`` and ``overrides``), or as given."""
    if isinstance(backend, Backend):
        return backend
    name, cfg = settings(backend, **overrides)
    if name == "cpu":
        from .cpu import CPUBackend

        return CPUBackend(**cfg)
    if name == "nninteractive":
        from .nninteractive import NNInteractiveBackend

        return NNInteractiveBackend(**cfg)
    if name == "nninteractive-remote":
        from .nninteractive import NNInteractiveRemoteBackend

        return NNInteractiveRemoteBackend(**cfg)
    from .prior import ModelPriorBackend

    return ModelPriorBackend(**cfg)


class Assistant:
    """AI-assisted ROI drawing: interactions in, a 3-D proposal out.

    Parameters
    ----------
    image : array_like or nibabel image
        The volume to segment (3-D).
    affine : (4, 4) array_like, optional
        Voxel → world (mm); taken from a nibabel image, identity for a bare array.
    backend : str or Backend, optional
        ``"cpu"``, ``"nninteractive"``, ``"nninteractive-remote"``, ``"model"`` (default:
        ``assist.yaml``), or a backend object.
    **settings
        Settings of that backend (override ``assist.yaml``).

    Attributes
    ----------
    proposal : Proposal
        The current answer (empty before the first positive interaction).
    interactions : list
        The interactions so far, in order (replay them with :meth:`add`).
    latency : float
        Seconds the last interaction took.
    """

    def __init__(self, image: Any, affine: Any = None, *, backend: str | Backend | None = None,
                 **settings: Any) -> None:
        if hasattr(image, "affine") and hasattr(image, "dataobj"):
            affine = image.affine if affine is None else affine
            image = np.asanyarray(image.dataobj)
        data = np.asarray(image)
        if data.ndim == 4 and data.shape[3] == 1:
            data = data[..., 0]
        if data.ndim != 3:
            raise AssistError(f"the assistant segments a 3-D volume, got shape {data.shape}")
        self.affine = np.eye(4) if affine is None else np.asarray(affine, dtype=float)
        self.backend = make_backend(backend, **settings)
        self.backend.set_image(data, self.affine)
        self.shape: tuple[int, int, int] = data.shape
        self.interactions: list[Interaction] = []
        self.proposal = Proposal.empty(self.shape)
        self.latency = 0.0

    # ------------------------------------------------------------ interactions

    def voxels(self, points: Any, world: bool = False) -> np.ndarray:
        """``(N, 3)`` voxel indices of voxel positions, or of world (mm) ones."""
        pts = np.asarray(points, dtype=float).reshape(-1, 3)
        if world:
            inv = np.linalg.inv(self.affine)
            pts = pts @ inv[:3, :3].T + inv[:3, 3]
        return np.rint(pts).astype(np.int64)

    def add(self, interaction: Interaction) -> Proposal:
        """Send one interaction to the backend; returns (and keeps) the new proposal."""
        if not isinstance(interaction, (Point, Scribble, Box, Lasso)):
            raise AssistError(f"expected a Point, Scribble, Box or Lasso, got "
                              f"{type(interaction).__name__}")
        t0 = time.perf_counter()
        proposal = self.backend.add(interaction)
        self.latency = time.perf_counter() - t0
        self.interactions.append(interaction)
        self.proposal = proposal
        return proposal

    def add_point(self, position: Any, positive: bool = True, *, world: bool = False
                  ) -> Proposal:
        """A click: ``positive`` (the object) or negative (not the object)."""
        return self.add(Point(tuple(self.voxels(position, world)[0]), positive))

    def add_scribble(self, points: Any, positive: bool = True, *, world: bool = False
                     ) -> Proposal:
        """A stroke through ``points`` (joined by lines)."""
        return self.add(Scribble(self.voxels(points, world), positive))

    def add_box(self, corner_a: Any, corner_b: Any, positive: bool = True, *,
                world: bool = False) -> Proposal:
        """A box between two corners; equal along one axis for a 2-D box on a slice."""
        a, b = self.voxels([corner_a, corner_b], world)
        return self.add(Box(tuple(a), tuple(b), positive))

    def add_lasso(self, points: Any, positive: bool = True, *, world: bool = False
                  ) -> Proposal:
        """A closed outline on one slice; the object fills it there."""
        return self.add(Lasso(self.voxels(points, world), positive))

    def reset(self) -> None:
        """Forget the interactions and the proposal (the image stays)."""
        self.backend.reset()
        self.interactions = []
        self.proposal = Proposal.empty(self.shape)

    # ------------------------------------------------------------ results

    def mask(self) -> np.ndarray:
        """The proposal as a bool volume on the image's grid."""
        return self.proposal.full()

    def result(self, name: str = "assist") -> ROI:
        """The proposal as an :class:`~nora_lab.imaging.ROI` on the image's grid."""
        return ROI(self.mask(), self.affine, name=name)

    def __repr__(self) -> str:
        return (f"<Assistant {self.backend.name} on {self.shape}: "
                f"{len(self.interactions)} interaction(s), {self.proposal.count} voxels>")

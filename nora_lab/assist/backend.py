"""The one small interface every assistant backend implements, and what it returns.

A backend gets the image once (:meth:`Backend.set_image`), then one interaction at a
time (:meth:`Backend.add`), each answered with the whole current :class:`Proposal`;
:meth:`Backend.reset` forgets the interactions (the image stays). Backends:
``cpu`` (:mod:`.cpu`), ``nninteractive`` and ``nninteractive-remote``
(:mod:`.nninteractive`), ``model`` (:mod:`.prior`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from nora_lab.errors import AssistError
from nora_lab.imaging.roi import bbox_of

from .interactions import Interaction

__all__ = ["Backend", "Proposal"]

BBox = tuple[slice, slice, slice]


@dataclass(frozen=True)
class Proposal:
    """The assistant's current answer: ``mask`` (bool) inside ``bbox`` of a volume of
    ``shape``; an empty proposal has ``bbox`` None."""

    shape: tuple[int, int, int]
    bbox: BBox | None
    mask: np.ndarray

    @classmethod
    def from_mask(cls, full: np.ndarray) -> Proposal:
        """The proposal of a whole-volume mask (cropped to its voxels)."""
        full = np.asarray(full) != 0
        box = bbox_of(full)
        if box is None:
            return cls.empty(full.shape)
        return cls(full.shape, box, full[box].copy())

    @classmethod
    def empty(cls, shape: tuple[int, int, int]) -> Proposal:
        return cls(tuple(shape), None, np.zeros((0, 0, 0), bool))  # type: ignore[arg-type]

    @property
    def count(self) -> int:
        """Number of voxels proposed."""
        return int(self.mask.sum())

    def full(self) -> np.ndarray:
        """The proposal as a bool volume of ``shape``."""
        out = np.zeros(self.shape, bool)
        if self.bbox is not None:
            out[self.bbox] = self.mask
        return out


class Backend(ABC):
    """An interactive 3-D segmentation engine.

    Subclasses set :attr:`name` (the key in ``assist.yaml``) and raise
    :class:`~nora_lab.errors.BackendUnavailable` naming what is missing when they
    cannot run here.
    """

    name: ClassVar[str]

    def __init__(self) -> None:
        self.image: np.ndarray | None = None
        self.affine: np.ndarray = np.eye(4)

    def set_image(self, image: np.ndarray, affine: np.ndarray) -> None:
        """Take the image (3-D array, voxel → world ``affine``); forgets interactions."""
        image = np.asarray(image)
        if image.ndim != 3:
            raise AssistError(f"the assistant works on a 3-D volume, got shape {image.shape}")
        self.image, self.affine = image, np.asarray(affine, dtype=float)
        self.reset()

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size (mm) from the affine."""
        return tuple(float(x) for x in np.linalg.norm(self.affine[:3, :3], axis=0))  # type: ignore[return-value]

    def _image(self) -> np.ndarray:
        if self.image is None:
            raise AssistError(f"the {self.name!r} backend has no image: call set_image first")
        return self.image

    @abstractmethod
    def add(self, interaction: Interaction) -> Proposal:
        """Take one more interaction; return the whole proposal after it."""

    @abstractmethod
    def reset(self) -> None:
        """Forget every interaction (keep the image)."""

"""What the user tells the assistant: points, scribbles, boxes and lassos.

Every interaction is in the voxel indices of the image the assistant works on and is
*positive* (this is the object) or *negative* (this is not). Boxes and lassos are drawn
on one slice, as in nnInteractive: ``axis`` is the voxel axis across that slice.

>>> Point((40, 52, 30))                                   # a positive click
>>> Point((12, 60, 30), positive=False)                   # a negative click
>>> Box((30, 40, 30), (60, 70, 31))                       # a 2-D box on slice z = 30
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nora_lab.errors import AssistError

__all__ = ["Point", "Scribble", "Box", "Lasso", "Interaction", "slice_mask"]


def _voxels(points: Any, what: str) -> np.ndarray:
    arr = np.rint(np.asarray(points, dtype=float)).astype(np.int64)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 3 or not len(arr):
        raise AssistError(f"{what} needs (N, 3) voxel positions, got an array of shape "
                          f"{np.shape(points)}")
    return arr


@dataclass(frozen=True)
class Point:
    """A click at one voxel."""

    voxel: tuple[int, int, int]
    positive: bool = True

    def __post_init__(self) -> None:
        v = _voxels(self.voxel, "a point")
        if len(v) != 1:
            raise AssistError(f"a point is one voxel (i, j, k), got {len(v)} positions")
        object.__setattr__(self, "voxel", tuple(int(x) for x in v[0]))

    @property
    def voxels(self) -> np.ndarray:
        return np.asarray([self.voxel], dtype=np.int64)


@dataclass(frozen=True)
class Scribble:
    """A free-hand stroke: the voxels the pen passed, joined into a line."""

    voxels: np.ndarray = field(compare=False)
    positive: bool = True

    def __post_init__(self) -> None:
        v = _voxels(self.voxels, "a scribble")
        object.__setattr__(self, "voxels", _polyline(v))


@dataclass(frozen=True)
class Box:
    """A box between two voxel corners (inclusive); the object lies inside it.

    One side one voxel thick makes a 2-D box on a slice (what nnInteractive was
    trained on); any other box is a 3-D box.
    """

    corner_a: tuple[int, int, int]
    corner_b: tuple[int, int, int]
    positive: bool = True

    def __post_init__(self) -> None:
        a, b = _voxels(self.corner_a, "a box corner"), _voxels(self.corner_b, "a box corner")
        lo, hi = np.minimum(a[0], b[0]), np.maximum(a[0], b[0])
        object.__setattr__(self, "corner_a", tuple(int(x) for x in lo))
        object.__setattr__(self, "corner_b", tuple(int(x) for x in hi))

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        """The box as half-open voxel ranges."""
        return tuple(slice(a, b + 1) for a, b in zip(self.corner_a, self.corner_b,  # type: ignore[return-value]
                                                     strict=True))

    @property
    def axis(self) -> int | None:
        """The voxel axis across a 2-D box (None for a 3-D box)."""
        thin = [i for i in range(3) if self.corner_a[i] == self.corner_b[i]]
        return thin[0] if thin else None

    @property
    def voxels(self) -> np.ndarray:
        return np.asarray([self.corner_a, self.corner_b], dtype=np.int64)


@dataclass(frozen=True)
class Lasso:
    """A closed outline drawn on one slice; the object fills it there."""

    voxels: np.ndarray = field(compare=False)
    positive: bool = True
    axis: int = -1

    def __post_init__(self) -> None:
        v = _voxels(self.voxels, "a lasso")
        if len(v) < 3:
            raise AssistError(f"a lasso needs at least 3 outline points, got {len(v)}")
        axis = self.axis
        if axis < 0:  # the axis the outline does not move along
            spread = np.ptp(v, axis=0)
            axis = int(np.argmin(spread))
        if axis not in (0, 1, 2):
            raise AssistError(f"a lasso's axis is a voxel axis 0, 1 or 2, got {self.axis}")
        v = v.copy()
        v[:, axis] = int(np.median(v[:, axis]))
        object.__setattr__(self, "voxels", v)
        object.__setattr__(self, "axis", axis)


Interaction = Point | Scribble | Box | Lasso


def _polyline(v: np.ndarray) -> np.ndarray:
    """The voxels of the line through ``v``, in order, without repeats."""
    if len(v) == 1:
        return v
    out = [v[:1]]
    for a, b in zip(v[:-1], v[1:], strict=True):
        n = int(np.abs(b - a).max())
        if n:
            t = np.arange(1, n + 1)[:, None] / n
            out.append(np.rint(a + t * (b - a)).astype(np.int64))
    line = np.concatenate(out)
    keep = np.r_[True, np.any(line[1:] != line[:-1], axis=1)]
    return line[keep]


def slice_mask(interaction: Box | Lasso, shape: tuple[int, ...]) -> tuple[int, int, np.ndarray]:
    """The region a box or lasso marks on its slice: ``(axis, index, 2-D bool mask)``.

    For a 3-D box the slice is its middle one across its thinnest side.
    """
    from skimage.draw import polygon

    if isinstance(interaction, Box):
        axis = interaction.axis
        if axis is None:
            axis = int(np.argmin(np.subtract(interaction.corner_b, interaction.corner_a)))
        index = (interaction.corner_a[axis] + interaction.corner_b[axis]) // 2
        plane = [s for i, s in enumerate(interaction.slices) if i != axis]
        size = [n for i, n in enumerate(shape) if i != axis]
        mask = np.zeros(size, bool)
        mask[plane[0], plane[1]] = True
        return axis, int(index), mask
    axis = interaction.axis
    index = int(interaction.voxels[0, axis])
    uv = np.delete(interaction.voxels, axis, axis=1)
    size2 = tuple(n for i, n in enumerate(shape) if i != axis)
    mask = np.zeros(size2, bool)
    rr, cc = polygon(uv[:, 0], uv[:, 1], shape=size2)
    mask[rr, cc] = True
    mask[np.clip(uv[:, 0], 0, size2[0] - 1), np.clip(uv[:, 1], 0, size2[1] - 1)] = True
    return axis, index, mask

"""Deformable transforms: sums of Gaussian-shaped displacements on a dumped field.

A :class:`Deformation` is a displacement field ``D(x)`` in world mm. Applied to an
image it pulls: ``out(x) = in(x - D(x))``, so content near a marker at ``centre`` moves
by about ``vector``. Markers (NORA's "correspondences") are Gaussians of width ``size``
(mm, the standard deviation). :meth:`Deformation.dump` renders the markers into a
displacement field on a grid and deletes them; new markers then add on top.
:meth:`Deformation.from_keypoints` builds the markers from two matching point sets so
that every source keypoint lands exactly on its target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import nibabel as nib
import numpy as np

from nora_lab.errors import ImagingError

from .grid import Grid, as_volume
from .resample import _sample_voxels

__all__ = ["GaussianMarker", "Deformation"]


@dataclass(frozen=True)
class GaussianMarker:
    """``vector * exp(-|x - centre|² / (2 size²))`` — one Gaussian displacement."""

    centre: np.ndarray
    vector: np.ndarray
    size: float

    def __post_init__(self) -> None:
        for what in ("centre", "vector"):
            v = np.asarray(getattr(self, what), dtype=float).ravel()
            if v.shape != (3,) or not np.all(np.isfinite(v)):
                raise ImagingError(
                    f"marker {what} must be 3 finite numbers (mm), got {getattr(self, what)!r}")
            object.__setattr__(self, what, v)
        if not self.size > 0:
            raise ImagingError(f"marker size must be > 0 mm, got {self.size}")

    def displacement(self, points: np.ndarray) -> np.ndarray:
        """Displacement (N, 3) at world points (N, 3)."""
        d2 = ((points - self.centre) ** 2).sum(axis=1)
        return np.exp(-d2 / (2 * self.size**2))[:, None] * self.vector


@dataclass
class Deformation:
    """A displacement field (optional) plus Gaussian markers, in world mm.

    Examples
    --------
    >>> d = Deformation()
    >>> _ = d.add([0, 0, 0], [2, 0, 0], size=10)
    >>> d.displacement(np.zeros((1, 3))).round(3).tolist()
    [[2.0, 0.0, 0.0]]
    """

    markers: list[GaussianMarker] = field(default_factory=list)
    field_data: np.ndarray | None = None
    field_grid: Grid | None = None

    def add(self, centre: Any, vector: Any, size: float) -> GaussianMarker:
        """Add a Gaussian displacement marker."""
        m = GaussianMarker(np.asarray(centre), np.asarray(vector), float(size))
        self.markers.append(m)
        return m

    @property
    def is_identity(self) -> bool:
        return not self.markers and self.field_data is None

    def displacement(self, points: Any, chunk: int = 1 << 18) -> np.ndarray:
        """Displacement (N, 3) in mm at world points (N, 3): field (trilinear, 0 outside)
        plus every marker."""
        pts = np.asarray(points, dtype=float).reshape(-1, 3)
        out = np.zeros_like(pts)
        for a in range(0, len(pts), chunk):
            p = pts[a:a + chunk]
            if self.field_data is not None and self.field_grid is not None:
                ijk = self.field_grid.world_to_voxel(p)
                for d in range(3):
                    out[a:a + chunk, d] = _sample_voxels(self.field_data[..., d], ijk, order=1,
                                                         cval=0.0)
            for m in self.markers:
                out[a:a + chunk] += m.displacement(p)
        return out

    def dump(self, grid: Any) -> Deformation:
        """Render field + markers into a field on ``grid`` and delete the markers.

        Parameters
        ----------
        grid : Grid or image
            Where the field is stored (e.g. the "world" grid or an image's matrix).
        """
        g = Grid.from_image(grid)
        ijk = np.stack(np.meshgrid(*[np.arange(n) for n in g.shape], indexing="ij"),
                       -1).reshape(-1, 3)
        disp = self.displacement(g.voxel_to_world(ijk))
        self.field_data = disp.reshape(*g.shape, 3).astype(np.float32)
        self.field_grid = g
        self.markers = []
        return self

    @classmethod
    def from_keypoints(cls, source: Any, target: Any, size: float) -> Deformation:
        """Markers that carry every ``source`` point exactly onto its ``target`` point.

        Gaussian radial basis functions centred at the targets, with weights solved so
        that ``D(target_i) = target_i - source_i``.

        Parameters
        ----------
        source, target : (N, 3) arrays or PointSets
            Matching keypoints in world mm (where a feature is, where it should go).
        size : float
            Gaussian width in mm (larger = smoother, more global).

        Raises
        ------
        ImagingError
            Different numbers of points, or coinciding targets.
        """
        s = np.asarray(getattr(source, "coords", source), dtype=float).reshape(-1, 3)
        t = np.asarray(getattr(target, "coords", target), dtype=float).reshape(-1, 3)
        if s.shape != t.shape or len(s) == 0:
            raise ImagingError(
                f"keypoint sets must match one to one, got {len(s)} source and {len(t)} target "
                "points")
        if not size > 0:
            raise ImagingError(f"keypoint size must be > 0 mm, got {size}")
        k = np.exp(-((t[:, None, :] - t[None, :, :]) ** 2).sum(-1) / (2 * size**2))
        if np.linalg.cond(k) > 1e12:
            raise ImagingError(
                "target keypoints coincide or are far closer than the size; remove duplicates")
        w = np.linalg.solve(k, t - s)
        return cls([GaussianMarker(c, v, size) for c, v in zip(t, w, strict=True)])

    def to_nifti(self) -> nib.Nifti1Image:
        """The dumped field as a NIfTI vector image (X, Y, Z, 1, 3), world mm."""
        if self.field_data is None or self.field_grid is None:
            raise ImagingError("no displacement field yet: call dump(grid) first")
        img = nib.Nifti1Image(self.field_data[:, :, :, None, :], self.field_grid.affine)
        img.header.set_intent("vector")
        return img

    @classmethod
    def from_nifti(cls, img: Any) -> Deformation:
        """Read a field written by :meth:`to_nifti` (X, Y, Z, [1,] 3)."""
        data = np.asarray(img.dataobj, dtype=np.float32)
        if data.ndim == 5 and data.shape[3] == 1:
            data = data[:, :, :, 0, :]
        if data.ndim != 4 or data.shape[3] != 3:
            raise ImagingError(f"a displacement field must be (X, Y, Z, 3), got shape {data.shape}")
        _, grid = as_volume((data[..., 0], img.affine), "displacement field")
        return cls([], data, grid)

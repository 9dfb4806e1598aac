"""The region of interest: a binary volume with the geometry of a reference image."""

from __future__ import annotations

from typing import Any

import nibabel as nib
import numpy as np

from nora_lab.errors import ImagingError

from .grid import Grid, as_volume
from .history import BBox, Edit, History

__all__ = ["ROI", "bbox_of", "union_bbox"]


def bbox_of(mask: np.ndarray) -> BBox | None:
    """Tight bounding box (slices) of the True voxels of a 3D ``mask``; None if empty."""
    plane = np.any(mask, axis=2)
    xs = np.flatnonzero(plane.any(axis=1))
    if xs.size == 0:
        return None
    ys = np.flatnonzero(plane.any(axis=0))
    x, y = slice(int(xs[0]), int(xs[-1]) + 1), slice(int(ys[0]), int(ys[-1]) + 1)
    zs = np.flatnonzero(mask[x, y].any(axis=(0, 1)))
    return (x, y, slice(int(zs[0]), int(zs[-1]) + 1))


def union_bbox(a: BBox | None, b: BBox | None) -> BBox | None:
    """Smallest box holding both boxes."""
    if a is None:
        return b
    if b is None:
        return a
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop))
                 for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


class ROI:
    """A binary volume (mask, segmentation) on the grid of a reference image.

    Every change goes through :meth:`apply`, which records an :class:`Edit` (bounding box
    plus old/new values) in a bounded :class:`History` for :meth:`undo`/:meth:`redo`.
    ``roi.data`` (bool) may be written directly, but such writes are not undoable.

    Parameters
    ----------
    data : array_like
        2D or 3D array; nonzero means "on". 2D arrays become one-slice 3D volumes.
    affine : (4, 4) array_like
        Voxel-to-world matrix (mm).
    name : str
        Shown in statistics tables and DICOM SEG segment labels.
    max_edits : int
        Undo depth.

    Examples
    --------
    >>> roi = ROI.from_reference(t1_img, name="lesion")     # doctest: +SKIP
    >>> edit = brush(roi, (40, 50, 30), radius_mm=5)       # doctest: +SKIP
    >>> roi.undo()                                         # doctest: +SKIP
    """

    def __init__(self, data: Any, affine: Any, name: str = "roi", *, max_edits: int = 100) -> None:
        arr = np.asarray(data)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim != 3:
            raise ImagingError(f"ROI '{name}': data must be 2D or 3D, got shape {arr.shape}")
        self.data: np.ndarray = np.ascontiguousarray(arr != 0)
        self.grid = Grid(self.data.shape, affine)
        self.name = name
        self.history = History(max_edits=max_edits)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_reference(
        cls, reference: Any, *, window: tuple[float, float] | None = None,
        threshold: float | None = None, name: str = "roi",
    ) -> ROI:
        """A new ROI on the grid of ``reference``.

        Empty by default; with ``window`` (the reference's display limits) the voxels
        above the lower window limit are on, as NORA's "create from image" does. An
        explicit ``threshold`` overrides the window.
        """
        data, grid = as_volume(reference, "reference image")
        if threshold is None and window is not None:
            threshold = float(window[0])
        if threshold is None:
            mask = np.zeros(grid.shape, dtype=bool)
        else:
            mask = np.asarray(data) > threshold
        return cls(mask, grid.affine, name=name)

    @classmethod
    def from_nifti(cls, img: Any, name: str | None = None, *, threshold: float = 0.5) -> ROI:
        """Read an ROI from a nibabel image (or a path); voxels > ``threshold`` are on."""
        if isinstance(img, str) or hasattr(img, "__fspath__"):
            name = name or str(img).rsplit("/", 1)[-1].split(".")[0]
            img = nib.load(img)
        data, grid = as_volume(img, "ROI image")
        return cls(np.asarray(data) > threshold, grid.affine, name=name or "roi")

    def to_nifti(self) -> nib.Nifti1Image:
        """The ROI as a uint8 NIfTI image (0/1) with the ROI's affine."""
        img = nib.Nifti1Image(self.data.astype(np.uint8), self.grid.affine)
        img.header.set_data_dtype(np.uint8)
        img.header["descrip"] = self.name[:79].encode()
        return img

    def copy(self, name: str | None = None) -> ROI:
        """An independent copy with an empty history."""
        return ROI(self.data.copy(), self.grid.affine, name=name or self.name)

    # -- geometry ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        x, y, z = self.grid.shape
        return x, y, z

    @property
    def affine(self) -> np.ndarray:
        return self.grid.affine

    @property
    def count(self) -> int:
        """Number of voxels that are on."""
        box = self.bbox()
        return 0 if box is None else int(np.count_nonzero(self.data[box]))

    @property
    def volume_ml(self) -> float:
        """Volume in mL (cm³)."""
        return self.count * self.grid.voxel_volume / 1000.0

    def bbox(self) -> BBox | None:
        """Tight bounding box of the on voxels (None when empty)."""
        return bbox_of(self.data)

    def centre_of_gravity(self) -> np.ndarray:
        """World coordinates (mm) of the mean position of the on voxels.

        Raises
        ------
        ImagingError
            If the ROI is empty.
        """
        box = self.bbox()
        if box is None:
            raise ImagingError(f"ROI '{self.name}' is empty: it has no centre of gravity")
        idx = np.argwhere(self.data[box]).mean(axis=0) + [s.start for s in box]
        return self.grid.voxel_to_world(idx)

    # -- editing ----------------------------------------------------------------------
    def apply(self, bbox: BBox | None, new: np.ndarray | None, label: str = "edit") -> Edit:
        """Set the voxels in ``bbox`` to ``new`` and record the edit for undo.

        Returns
        -------
        Edit
            With the changed bounding box and old/new values (``changed == 0`` and not
            recorded when nothing changed).
        """
        if bbox is None or new is None:
            return Edit.make(None, None, None, label)
        old = self.data[bbox]
        new = np.asarray(new, dtype=bool)
        if new.shape != old.shape:
            raise ImagingError(
                f"edit '{label}': new values {new.shape} do not fit the box {old.shape}")
        tight = bbox_of(old != new)
        if tight is None:
            return Edit.make(None, None, None, label)
        box = tuple(slice(int(b.start + t.start), int(b.start + t.stop))
                    for b, t in zip(bbox, tight, strict=True))
        edit = Edit.make(box, old[tight].copy(), new[tight], label)  # type: ignore[arg-type]
        self.data[box] = new[tight]
        self.history.push(edit)
        return edit

    def paint(self, bbox: BBox | None, mask: np.ndarray | None, value: bool = True,
              label: str = "paint") -> Edit:
        """Turn the ``mask`` voxels of ``bbox`` on (``value=True``) or off."""
        if bbox is None or mask is None:
            return Edit.make(None, None, None, label)
        old = self.data[bbox]
        new = (old | mask) if value else (old & ~mask)
        return self.apply(bbox, new, label)

    def replace(self, new: np.ndarray, label: str) -> Edit:
        """Replace the whole volume, recording only the box where it changed."""
        new = np.asarray(new, dtype=bool).reshape(self.shape)
        box = bbox_of(new != self.data)
        if box is None:
            return Edit.make(None, None, None, label)
        return self.apply(box, new[box], label)

    def clear(self) -> Edit:
        """Turn every voxel off (undoable)."""
        box = self.bbox()
        if box is None:
            return Edit.make(None, None, None, "clear")
        return self.apply(box, np.zeros(tuple(s.stop - s.start for s in box), bool), "clear")

    def undo(self) -> Edit | None:
        """Revert the last edit; returns it (None when there is nothing to undo)."""
        return self.history.undo(self.data)

    def redo(self) -> Edit | None:
        """Re-apply the last undone edit; returns it (None when there is nothing to redo)."""
        return self.history.redo(self.data)

    def __repr__(self) -> str:
        return f"ROI({self.name!r}, shape={self.shape}, voxels={self.count})"

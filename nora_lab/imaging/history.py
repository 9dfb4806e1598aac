"""Bounded undo/redo history of ROI edits.

An :class:`Edit` stores only the changed region: its bounding box and the old and new
voxel values in it, bit-packed (one bit per voxel). A widget can send ``edit.bbox`` and
``edit.new`` to the browser instead of the whole volume.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Edit", "History", "BBox"]

BBox = tuple[slice, slice, slice]


def _pack(a: np.ndarray) -> np.ndarray:
    return np.packbits(a.astype(bool, copy=False).ravel())


@dataclass(frozen=True)
class Edit:
    """One change of an ROI: the bounding box and the values before and after.

    Attributes
    ----------
    bbox : tuple of 3 slices, or None
        Region of the ROI array that changed (None when nothing changed).
    label : str
        What made the edit ("brush", "erode", ...).
    changed : int
        Number of voxels whose value changed.
    """

    bbox: BBox | None
    label: str
    changed: int
    _shape: tuple[int, ...] = field(default=(0, 0, 0), repr=False)
    _old: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8), repr=False)
    _new: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8), repr=False)

    @classmethod
    def make(cls, bbox: BBox | None, old: np.ndarray | None, new: np.ndarray | None,
             label: str) -> Edit:
        """Build an edit from unpacked old/new arrays of the bbox."""
        if bbox is None or old is None or new is None:
            return cls(None, label, 0)
        changed = int(np.count_nonzero(old != new))
        return cls(bbox, label, changed, old.shape, _pack(old), _pack(new))

    def _unpack(self, packed: np.ndarray) -> np.ndarray:
        n = int(np.prod(self._shape))
        return np.unpackbits(packed, count=n).astype(bool).reshape(self._shape)

    @property
    def old(self) -> np.ndarray:
        """Boolean values in ``bbox`` before the edit."""
        return self._unpack(self._old)

    @property
    def new(self) -> np.ndarray:
        """Boolean values in ``bbox`` after the edit."""
        return self._unpack(self._new)

    @property
    def nbytes(self) -> int:
        """Memory held by this edit."""
        return int(self._old.nbytes + self._new.nbytes)

    @property
    def origin(self) -> tuple[int, int, int] | None:
        """Start index of ``bbox`` (what a widget sends along with ``new``)."""
        return None if self.bbox is None else tuple(s.start for s in self.bbox)


class History:
    """Undo and redo stacks of :class:`Edit`, bounded by count and by bytes.

    Parameters
    ----------
    max_edits : int
        Oldest edits are dropped beyond this many.
    max_bytes : int
        Oldest edits are dropped when the stored regions exceed this many bytes.
    """

    def __init__(self, max_edits: int = 100, max_bytes: int = 256 * 2**20) -> None:
        self.max_edits = max_edits
        self.max_bytes = max_bytes
        self._undo: deque[Edit] = deque()
        self._redo: list[Edit] = []

    def __len__(self) -> int:
        return len(self._undo)

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self._undo) + sum(e.nbytes for e in self._redo)

    def push(self, edit: Edit) -> None:
        """Record an edit that has been applied; clears the redo stack."""
        if edit.bbox is None or edit.changed == 0:
            return
        self._undo.append(edit)
        self._redo.clear()
        while len(self._undo) > self.max_edits or (
            len(self._undo) > 1 and self.nbytes > self.max_bytes
        ):
            self._undo.popleft()

    def undo(self, data: np.ndarray) -> Edit | None:
        """Restore the old values of the last edit in ``data``; None if nothing to undo."""
        if not self._undo:
            return None
        edit = self._undo.pop()
        data[edit.bbox] = edit.old
        self._redo.append(edit)
        return edit

    def redo(self, data: np.ndarray) -> Edit | None:
        """Re-apply the last undone edit to ``data``; None if nothing to redo."""
        if not self._redo:
            return None
        edit = self._redo.pop()
        data[edit.bbox] = edit.new
        self._undo.append(edit)
        return edit

    def clear(self) -> None:
        """Forget all edits."""
        self._undo.clear()
        self._redo.clear()

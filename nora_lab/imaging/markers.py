"""Marker-tool point sets: named points in world coordinates.

The JSON layout follows NORA's annotation files (``annotations/<name>.ano.json`` in a
study)::

    {"annotations": [{"type": "pointset", "name": "landmarks", "state": null,
                      "points": [{"name": "AC", "coords": [0.0, 2.5, -4.0],
                                  "size": 1.0, "color": "#ffff00"}]}]}

Save with the archive: ``project.add_json(ps.to_file_dict(), psid, ps.relpath)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import nibabel as nib
import numpy as np

from nora_lab.errors import ImagingError

from .grid import Grid

__all__ = ["Point", "PointSet", "pointsets_to_dict", "pointsets_from_dict"]


@dataclass
class Point:
    """A named point in world mm (RAS+)."""

    name: str
    coords: np.ndarray
    size: float = 1.0
    color: str | None = None

    def __post_init__(self) -> None:
        c = np.asarray(self.coords, dtype=float).ravel()
        if c.shape != (3,) or not np.all(np.isfinite(c)):
            raise ImagingError(
                f"point '{self.name}': coords must be 3 finite numbers, got {self.coords!r}")
        self.coords = c

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "coords": [float(v) for v in self.coords],
                             "size": self.size}
        if self.color is not None:
            d["color"] = self.color
        return d


@dataclass
class PointSet:
    """An ordered set of named points (NORA annotation type "pointset").

    Examples
    --------
    >>> ps = PointSet("landmarks")
    >>> ps.add([0, 0, 0], "AC").name
    'AC'
    >>> PointSet.from_json(ps.to_json()).names
    ['AC']
    """

    name: str = "pointset"
    points: list[Point] = field(default_factory=list)

    @property
    def relpath(self) -> str:
        """Where NORA keeps it in a study: ``annotations/<name>.ano.json``."""
        return f"annotations/{self.name}.ano.json"

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.points]

    @property
    def coords(self) -> np.ndarray:
        """All coordinates, shape (N, 3)."""
        return np.array([p.coords for p in self.points], dtype=float).reshape(-1, 3)

    def __len__(self) -> int:
        return len(self.points)

    def add(self, coords: Sequence[float], name: str | None = None, *, size: float = 1.0,
            color: str | None = None) -> Point:
        """Append a point (named ``<set name>-<n>`` when no name is given)."""
        p = Point(name or f"{self.name}-{len(self.points) + 1}", np.asarray(coords), size, color)
        self.points.append(p)
        return p

    def _index(self, key: int | str) -> int:
        if isinstance(key, str):
            if key not in self.names:
                raise ImagingError(
                    f"point set '{self.name}' has no point named {key!r}; it has {self.names}")
            return self.names.index(key)
        if not -len(self.points) <= key < len(self.points):
            raise ImagingError(
                f"point set '{self.name}' has {len(self.points)} points; no index {key}")
        return key

    def remove(self, key: int | str) -> Point:
        """Remove a point by index or name."""
        return self.points.pop(self._index(key))

    def rename(self, key: int | str, name: str) -> None:
        """Give a point a new name."""
        self.points[self._index(key)].name = name

    def move(self, key: int | str, coords: Sequence[float]) -> None:
        """Set a point's world coordinates."""
        p = self.points[self._index(key)]
        self.points[self._index(key)] = Point(p.name, np.asarray(coords), p.size, p.color)

    # -- JSON ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The annotation entry: ``{"type": "pointset", "name", "state", "points"}``."""
        return {"type": "pointset", "name": self.name, "state": None,
                "points": [p.to_dict() for p in self.points]}

    def to_file_dict(self) -> dict[str, Any]:
        """The whole file content, ``{"annotations": [self.to_dict()]}``."""
        return pointsets_to_dict([self])

    def to_json(self, indent: int | None = 2) -> str:
        """The file content as a JSON string."""
        return json.dumps(self.to_file_dict(), indent=indent)

    @classmethod
    def from_dict(cls, obj: dict[str, Any], name: str | None = None) -> PointSet:
        """Read one point set from an entry or a whole file dict (``name`` picks one)."""
        sets = pointsets_from_dict(obj)
        if name is not None:
            sets = [s for s in sets if s.name == name]
        if not sets:
            raise ImagingError(
                f"no point set{' named ' + repr(name) if name else ''} in the annotation")
        return sets[0]

    @classmethod
    def from_json(cls, text: str | bytes, name: str | None = None) -> PointSet:
        """Parse a JSON string (see :meth:`from_dict`)."""
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImagingError(f"point set JSON is malformed: {exc}") from None
        return cls.from_dict(obj, name)

    # -- volumes ------------------------------------------------------------------------
    def to_label_volume(self, reference: Any, radius_mm: float = 0.0) -> nib.Nifti1Image:
        """Label volume on the grid of ``reference``: point ``n`` (0-based) gets label ``n+1``.

        ``radius_mm`` 0 marks the nearest voxel; larger values a ball (later points
        overwrite earlier ones where balls overlap).

        Raises
        ------
        ImagingError
            A point outside the reference grid.
        """
        grid = Grid.from_image(reference)
        out = np.zeros(grid.shape, dtype=np.uint16)
        vs = grid.voxel_sizes
        for n, p in enumerate(self.points, start=1):
            ijk = grid.world_to_voxel(p.coords)
            c = np.round(ijk).astype(int)
            if np.any(c < 0) or np.any(c >= grid.shape):
                raise ImagingError(
                    f"point '{p.name}' at {p.coords.tolist()} mm lies outside the reference grid "
                    f"{grid}"
                )
            r = np.floor(radius_mm / vs).astype(int)
            lo, hi = np.maximum(c - r, 0), np.minimum(c + r + 1, grid.shape)
            ax = [((np.arange(a, b) - q) * v) ** 2
                  for a, b, q, v in zip(lo, hi, ijk, vs, strict=True)]
            d2 = ax[0][:, None, None] + ax[1][None, :, None] + ax[2][None, None, :]
            box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
            sel = d2 <= radius_mm**2 + 1e-9 if radius_mm > 0 else np.ones(d2.shape, bool)
            if radius_mm <= 0:
                out[tuple(c)] = n
            else:
                out[box][sel] = n
        return nib.Nifti1Image(out, grid.affine)


def pointsets_to_dict(sets: Iterable[PointSet]) -> dict[str, Any]:
    """A NORA annotation file holding several point sets."""
    return {"annotations": [s.to_dict() for s in sets]}


def pointsets_from_dict(obj: Any) -> list[PointSet]:
    """All point sets of an annotation file dict (or of a single entry)."""
    if isinstance(obj, dict) and "annotations" in obj:
        entries = obj["annotations"]
    elif isinstance(obj, dict):
        entries = [obj]
    elif isinstance(obj, list):
        entries = obj
    else:
        raise ImagingError(f"an annotation must be a JSON object or list, got {type(obj).__name__}")
    out = []
    for e in entries:
        if not isinstance(e, dict) or e.get("type", "pointset") != "pointset":
            continue
        pts = []
        for i, p in enumerate(e.get("points") or []):
            if "coords" not in p:
                raise ImagingError(f"point {i} of point set '{e.get('name')}' has no 'coords'")
            pts.append(Point(str(p.get("name", f"{e.get('name', 'pointset')}-{i + 1}")),
                             np.asarray(p["coords"], dtype=float), float(p.get("size", 1.0)),
                             p.get("color")))
        out.append(PointSet(str(e.get("name", "pointset")), pts))
    return out

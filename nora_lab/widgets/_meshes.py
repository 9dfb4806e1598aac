"""Surfaces and fibers for the viewer: float32 points in world (RAS) mm plus
uint32 triangles (a surface) or streamline offsets (fibers).

Read from GIFTI (``POINTSET`` + ``TRIANGLE`` arrays), TCK/TRK through
``nibabel.streamlines`` (which yields RAS mm for both), or given as
``(vertices, faces)`` arrays. Errors are :class:`nora_lab.errors.ImagingError`
naming the file or object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nora_lab.errors import ImagingError

from ._transfer import bytes_view

__all__ = ["MeshData", "TractData", "mesh_from_arrays", "mesh_from_gifti", "tract_from_streamlines"]


@dataclass
class MeshData:
    """A triangulated surface in world mm."""

    name: str
    vertices: np.ndarray  # (N, 3) float32
    faces: np.ndarray  # (M, 3) uint32
    origin: str = "array"
    kind: str = field(default="mesh", init=False)

    @property
    def nbytes(self) -> int:
        return int(self.vertices.nbytes + self.faces.nbytes)

    def parts(self, label: bool = False) -> list[tuple[str, np.ndarray]]:
        return [("vertices", bytes_view(self.vertices)), ("faces", bytes_view(self.faces))]


@dataclass
class TractData:
    """Streamlines: all points (RAS mm) and where each streamline starts."""

    name: str
    points: np.ndarray  # (N, 3) float32
    offsets: np.ndarray  # (S + 1,) uint32; streamline s is points[offsets[s]:offsets[s+1]]
    origin: str = "array"
    kind: str = field(default="tract", init=False)

    @property
    def nbytes(self) -> int:
        return int(self.points.nbytes + self.offsets.nbytes)

    @property
    def n_streamlines(self) -> int:
        return int(self.offsets.size - 1)

    def parts(self, label: bool = False) -> list[tuple[str, np.ndarray]]:
        return [("points", bytes_view(self.points)), ("offsets", bytes_view(self.offsets))]


def mesh_from_arrays(vertices: Any, faces: Any, name: str, origin: str) -> MeshData:
    v = np.ascontiguousarray(np.asarray(vertices, dtype=np.float32))
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise ImagingError(
            f"cannot display {origin}: vertices must be an (N, 3) array, got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or f.dtype.kind not in "iu":
        raise ImagingError(
            f"cannot display {origin}: faces must be an (M, 3) integer array, got {f.shape} "
            f"{f.dtype}")
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise ImagingError(
            f"cannot display {origin}: a face refers to a vertex outside 0..{len(v) - 1}")
    return MeshData(name=name, vertices=v, faces=np.ascontiguousarray(f, dtype=np.uint32),
                    origin=origin)


def mesh_from_gifti(img: Any, name: str, origin: str) -> MeshData:
    kinds = {nda.intent for nda in img.darrays}
    import nibabel as nib

    pointset = nib.nifti1.intent_codes["NIFTI_INTENT_POINTSET"]
    triangle = nib.nifti1.intent_codes["NIFTI_INTENT_TRIANGLE"]
    if pointset not in kinds or triangle not in kinds:
        raise ImagingError(
            f"cannot open {origin}: the GIFTI file holds no surface (needs a POINTSET and a "
            "TRIANGLE data array; per-vertex data files are not surfaces)"
        )
    verts = next(d.data for d in img.darrays if d.intent == pointset)
    faces = next(d.data for d in img.darrays if d.intent == triangle)
    return mesh_from_arrays(verts, faces, name, origin)


def tract_from_streamlines(streamlines: Any, name: str, origin: str) -> TractData:
    pts = np.ascontiguousarray(np.asarray(streamlines.get_data(), dtype=np.float32))
    lengths = getattr(streamlines, "_lengths", None)
    if lengths is None or len(lengths) != len(streamlines):  # pragma: no cover - old nibabel
        lengths = np.fromiter((len(s) for s in streamlines), dtype=np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.uint32)
    np.cumsum(lengths, out=offsets[1:])
    if len(lengths) == 0:
        raise ImagingError(f"cannot display {origin}: it holds no streamlines")
    return TractData(name=name, points=pts, offsets=offsets, origin=origin)

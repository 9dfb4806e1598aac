"""Turn what a user hands the viewer into one of three displayable things.

:func:`load` accepts a path (NIfTI, Analyze, MGH/MGZ, NRRD/NHDR, GIFTI, TCK,
TRK), a nibabel image, a GIFTI image, a nibabel tractogram, a numpy array
(with an affine), or a ``(vertices, faces)`` pair, and returns

* :class:`VolumeData` – a 3-D voxel array (C or Fortran order, not copied),
  its 4×4 voxel→world (RAS mm) affine and a NIfTI-1 header to send with it;
* :class:`MeshData` – float32 vertices (world mm) and uint32 triangles;
* :class:`TractData` – float32 streamline points (RAS mm) and uint32 offsets.

Voxels keep their stored dtype where the front end can take it (uint8,
int16, uint16, float32; wider integers shrink to int16/uint16 when their
range allows, else become float32, as do float64 and float16); scaled
integer images (CT with a slope) stay integer and carry the slope in the
header. Surfaces and fibers live in :mod:`nora_lab.widgets._meshes`.
Nothing here imports widgets, so it is testable on its own. Bad input raises
:class:`nora_lab.errors.ImagingError` naming the file (or object) and the
problem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nora_lab.errors import ImagingError

from ._meshes import MeshData, TractData, mesh_from_arrays, mesh_from_gifti, tract_from_streamlines
from ._transfer import bytes_view

__all__ = ["VolumeData", "MeshData", "TractData", "load", "as_affine", "VOLUME_SUFFIXES"]

VOLUME_SUFFIXES = (".nii", ".nii.gz", ".img", ".hdr", ".mgh", ".mgz", ".nrrd", ".nhdr")
MESH_SUFFIXES = (".gii",)
TRACT_SUFFIXES = (".tck", ".trk")
# dtypes Niivue keeps as they are (it widens int32/uint32 to float64, twice our bytes)
_NATIVE = {np.dtype(t) for t in ("uint8", "int16", "uint16", "float32")}
NIFTI_HEADER_BYTES = 352  # 348-byte NIfTI-1 header + 4-byte extension flag


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in VOLUME_SUFFIXES + MESH_SUFFIXES + TRACT_SUFFIXES:
        if name.endswith(s):
            return s
    return path.suffix.lower()


def _stem(path: Path) -> str:
    s = _suffix(path)
    return path.name[: -len(s)] if s and path.name.lower().endswith(s) else path.stem


def as_affine(affine: Any, what: str = "array") -> np.ndarray:
    """Validate a voxel→world affine: a finite, invertible 4×4 (or 3×4) matrix."""
    a = np.asarray(affine, dtype=np.float64)
    if a.shape == (3, 4):
        a = np.vstack([a, [0.0, 0.0, 0.0, 1.0]])
    if a.shape != (4, 4):
        raise ImagingError(
            f"affine for {what} must be a 4x4 matrix (voxel index -> world mm), got shape {a.shape}"
        )
    if not np.all(np.isfinite(a)):
        raise ImagingError(f"affine for {what} contains NaN or infinite values")
    if abs(np.linalg.det(a[:3, :3])) < 1e-12:
        raise ImagingError(f"affine for {what} is singular (a voxel axis has zero length)")
    return a


# wire voxel (c, b, a) -> user voxel (a, b, c): a C-ordered array travels as its transpose
_REVERSE_AXES = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)


@dataclass
class VolumeData:
    """A 3-D volume ready to send: ``data[i, j, k]`` in the user's index order.

    ``data`` is C- or Fortran-contiguous and never copied for the wire: NIfTI wants
    x fastest, so a Fortran array is sent as it is, and a C array as its transpose
    (a view) with the affine's voxel axes reversed to match – the same image in
    world space. :meth:`wire` gives that pair; voxel indices the user sees (bbox,
    pen events) stay in ``data``'s order.
    """

    name: str
    data: np.ndarray
    affine: np.ndarray
    slope: float = 1.0
    inter: float = 0.0
    origin: str = "array"
    kind: str = field(default="volume", init=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.data.shape)  # type: ignore[return-value]

    @property
    def nbytes(self) -> int:
        return NIFTI_HEADER_BYTES + int(self.data.nbytes)

    @property
    def transposed(self) -> bool:
        """True when the wire carries ``data.T`` (``data`` is C-ordered)."""
        return not self.data.flags.f_contiguous

    def wire(self) -> tuple[np.ndarray, np.ndarray]:
        """(Fortran-ordered voxels, their affine) as sent; views, no copies."""
        if self.transposed:
            return self.data.T, self.affine @ _REVERSE_AXES
        return self.data, self.affine

    def wire_bbox(self, box: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """A bounding box in ``data``'s index order, in wire order."""
        return box[::-1] if self.transposed else box

    def header_bytes(self, label: bool = False) -> bytes:
        """The NIfTI-1 header (352 bytes) that precedes the voxels on the wire."""
        import nibabel as nib

        arr, affine = self.wire()
        hdr = nib.Nifti1Header()
        hdr.set_data_dtype(arr.dtype)
        hdr.set_data_shape(arr.shape)
        hdr.set_qform(affine, code=1)
        hdr.set_sform(affine, code=1)
        hdr.set_slope_inter(self.slope, self.inter)
        hdr["vox_offset"] = NIFTI_HEADER_BYTES
        if label:
            hdr.set_intent("label")
        blob = hdr.binaryblock + b"\x00" * 4
        assert len(blob) == NIFTI_HEADER_BYTES
        return blob

    def parts(self, label: bool = False) -> list[tuple[str, np.ndarray]]:
        """Byte views (no copy of the voxels) in wire order: header, voxels."""
        head = np.frombuffer(self.header_bytes(label), dtype=np.uint8)
        return [("header", head), ("voxels", bytes_view(self.wire()[0]))]

    def voxel_of(self, mm: Any) -> tuple[int, int, int] | None:
        """Nearest voxel index of a world point, or None outside the volume."""
        ijk = np.linalg.solve(self.affine, np.r_[np.asarray(mm, dtype=float)[:3], 1.0])[:3]
        v = np.rint(ijk).astype(int)
        if np.any(v < 0) or np.any(v >= self.data.shape):
            return None
        return int(v[0]), int(v[1]), int(v[2])

    def value_at(self, mm: Any) -> float:
        """Scaled voxel value at a world point (nearest neighbour), NaN outside."""
        v = self.voxel_of(mm)
        if v is None:
            return float("nan")
        return float(self.data[v]) * self.slope + self.inter

    def center_mm(self) -> tuple[float, float, float]:
        c = self.affine @ np.r_[(np.asarray(self.data.shape) - 1) / 2.0, 1.0]
        return float(c[0]), float(c[1]), float(c[2])

    def world_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(min, max) world corners of the voxel grid."""
        n = np.asarray(self.data.shape) - 1
        corners = np.array([[i, j, k, 1.0] for i in (0, n[0]) for j in (0, n[1])
                            for k in (0, n[2])])
        w = corners @ self.affine.T
        return w[:, :3].min(0), w[:, :3].max(0)

    def auto_window(self) -> tuple[float, float]:
        """(level, width) of the robust 2 %–98 % range, from ≤ ~1 M sampled voxels."""
        flat = self.data.ravel(order="K")  # a view: the array is C- or F-contiguous
        step = max(1, flat.size // 1_000_000)
        sample = np.asarray(flat[::step], dtype=np.float64)
        sample = sample[np.isfinite(sample)]
        if sample.size == 0:
            return 0.5, 1.0
        lo, hi = np.percentile(sample, [2.0, 98.0])
        if hi <= lo:
            lo, hi = float(sample.min()), float(sample.max())
        if hi <= lo:
            hi = lo + 1.0
        lo, hi = lo * self.slope + self.inter, hi * self.slope + self.inter
        lo, hi = min(lo, hi), max(lo, hi)
        return float((lo + hi) / 2.0), float(hi - lo)


# ---------------------------------------------------------------- volumes


def _wire_dtype(arr: np.ndarray, what: str) -> np.ndarray:
    dt = arr.dtype
    if dt in _NATIVE:
        return arr
    if dt == np.bool_:
        return arr.astype(np.uint8)
    if dt == np.int8:
        return arr.astype(np.int16)
    if dt.kind in "iu":
        lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        for small in (np.int16, np.uint16):
            if np.iinfo(small).min <= lo and hi <= np.iinfo(small).max:
                return arr.astype(small)
        return arr.astype(np.float32)
    if dt.kind == "f":
        return arr.astype(np.float32)
    raise ImagingError(
        f"cannot display {what}: voxel type {dt} is not supported "
        "(use an integer or real-valued array; split complex data into magnitude/phase)"
    )


def _as_3d(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.ndim == 2:
        arr = arr[:, :, np.newaxis]
    while arr.ndim > 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3:
        raise ImagingError(
            f"cannot display {what}: expected a 3-D volume, got shape {arr.shape}; "
            "for a 4-D series pass one volume, e.g. img.slicer[..., 0]"
        )
    if min(arr.shape) < 1:
        raise ImagingError(f"cannot display {what}: it is empty (shape {arr.shape})")
    return arr


def volume_from_array(
    arr: Any, affine: Any, name: str, origin: str, slope: float = 1.0, inter: float = 0.0
) -> VolumeData:
    a = np.asanyarray(arr)
    if isinstance(a, np.ma.MaskedArray):
        a = a.filled(0)
    a = _as_3d(np.asarray(a), origin)
    a = _wire_dtype(a, origin)
    if not (a.flags.f_contiguous or a.flags.c_contiguous):
        a = np.asfortranarray(a)
    aff = as_affine(np.eye(4) if affine is None else affine, origin)
    slope = 1.0 if not np.isfinite(slope) or slope == 0 else float(slope)
    inter = 0.0 if not np.isfinite(inter) else float(inter)
    return VolumeData(name=name, data=a, affine=aff, slope=slope, inter=inter, origin=origin)


def _from_spatial_image(img: Any, name: str | None, origin: str) -> VolumeData:
    fname = img.get_filename() if hasattr(img, "get_filename") else None
    nm = name or (_stem(Path(fname)) if fname else type(img).__name__)
    proxy = img.dataobj
    slope, inter = 1.0, 0.0
    if hasattr(proxy, "get_unscaled") and hasattr(proxy, "slope"):
        raw = proxy.get_unscaled()
        slope = float(np.asarray(proxy.slope).ravel()[0])
        inter = float(np.asarray(proxy.inter).ravel()[0])
        if raw.dtype.kind == "f" and (slope != 1.0 or inter != 0.0):
            raw, slope, inter = raw * slope + inter, 1.0, 0.0
    else:
        raw = np.asanyarray(proxy)
    return volume_from_array(raw, img.affine, nm, origin, slope, inter)


def _nrrd_affine(header: dict, path: Path) -> np.ndarray:
    dirs = header.get("space directions")
    aff = np.eye(4)
    if dirs is not None:
        d = np.asarray([row for row in dirs if row is not None], dtype=float)
        d = d[np.all(np.isfinite(d), axis=1)]
        if d.shape != (3, 3):
            raise ImagingError(
                f"cannot open {path}: NRRD 'space directions' is not 3x3 ({d.shape})")
        aff[:3, :3] = d.T
    elif "spacings" in header:
        aff[:3, :3] = np.diag(np.asarray(header["spacings"], dtype=float)[:3])
    if "space origin" in header:
        aff[:3, 3] = np.asarray(header["space origin"], dtype=float)[:3]
    space = str(header.get("space", "")).lower()
    if space in ("left-posterior-superior", "lps", "3d-left-handed"):
        aff[:2, :] *= -1.0  # LPS -> RAS
    return aff


def _load_nrrd(path: Path, name: str | None) -> VolumeData:
    import nrrd

    data, header = nrrd.read(str(path))  # index order 'F': data[i, j, k]
    return volume_from_array(data, _nrrd_affine(header, path), name or _stem(path), str(path))


# ---------------------------------------------------------------- entry point


def _load_path(path: Path, name: str | None) -> VolumeData | MeshData | TractData:
    if not path.exists():
        raise ImagingError(f"cannot open {path}: no such file")
    suffix = _suffix(path)
    nm = name or _stem(path)
    try:
        import nibabel as nib

        if suffix in (".nrrd", ".nhdr"):
            return _load_nrrd(path, name)
        if suffix in (".nii", ".nii.gz", ".img", ".hdr", ".mgh", ".mgz"):
            return _from_spatial_image(nib.load(str(path)), nm, str(path))
        if suffix == ".gii":
            return mesh_from_gifti(nib.load(str(path)), nm, str(path))
        if suffix in TRACT_SUFFIXES:
            return tract_from_streamlines(nib.streamlines.load(str(path)).streamlines, nm,
                                          str(path))
    except ImagingError:
        raise
    except Exception as exc:  # nibabel/pynrrd say what is wrong; we add the file name
        raise ImagingError(f"cannot open {path}: {type(exc).__name__}: {exc}") from exc
    known = ", ".join(VOLUME_SUFFIXES + MESH_SUFFIXES + TRACT_SUFFIXES)
    raise ImagingError(
        f"cannot open {path}: unsupported file type {suffix or '(no suffix)'!r}; "
        f"the viewer opens {known} (convert DICOM to NIfTI first)"
    )


def load(source: Any, affine: Any = None,
         name: str | None = None) -> VolumeData | MeshData | TractData:
    """Make something displayable out of ``source`` (see module docstring).

    Raises
    ------
    nora_lab.errors.ImagingError
        Unsupported or unreadable file (the message names it), bad array
        shape or dtype, bad affine.
    """
    if isinstance(source, (VolumeData, MeshData, TractData)):
        return source
    if isinstance(source, (str, os.PathLike)):
        if affine is not None:
            raise ImagingError(
                f"cannot open {source}: a file brings its own affine; do not pass affine=")
        return _load_path(Path(source), name)

    import nibabel as nib
    from nibabel.streamlines.tractogram_file import TractogramFile

    if isinstance(source, nib.gifti.GiftiImage):
        return mesh_from_gifti(source, name or "surface", "GIFTI image")
    if isinstance(source, TractogramFile):
        return tract_from_streamlines(source.streamlines, name or "fibers", "tractogram")
    if isinstance(source, nib.streamlines.Tractogram):
        return tract_from_streamlines(source.streamlines, name or "fibers", "tractogram")
    if isinstance(source, nib.spatialimages.SpatialImage):
        if affine is not None:
            raise ImagingError("a nibabel image brings its own affine; do not pass affine=")
        return _from_spatial_image(source, name, type(source).__name__)
    if isinstance(source, tuple) and len(source) == 2:
        return mesh_from_arrays(source[0], source[1], name or "surface", "(vertices, faces)")
    if isinstance(source, np.ndarray) or hasattr(source, "__array__"):
        return volume_from_array(source, affine, name or "array", "array")
    raise ImagingError(
        f"cannot display an object of type {type(source).__name__}: pass a file path, a nibabel "
        "image, a numpy array with an affine, a GIFTI image, a tractogram or (vertices, faces)"
    )

"""Streamlines (TCK and TRK via nibabel.streamlines) and the fiber viewer's selections.

Streamlines are kept as nibabel ``ArraySequence`` in world (RAS+) mm. Selections return
one boolean per streamline, so they combine with ``&``, ``|`` and ``~`` (NORA's
iterative selections); :func:`keep` and :func:`delete` cut a sequence down.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from nibabel.streamlines import ArraySequence, Tractogram
from nibabel.streamlines.tractogram_file import HeaderWarning

from nora_lab._lazy import deprecated_names
from nora_lab.errors import ImagingError

from .grid import Grid, as_volume

__all__ = [
    "load_streamlines", "save_streamlines", "as_streamlines", "flatten", "densify",
    "through_sphere", "through_roi", "by_waypoints", "keep_streamlines", "delete_streamlines",
]

#: the names before 0.2 (too generic for ``nora_lab.imaging``'s namespace)
__getattr__ = deprecated_names(__name__, {"keep": ":keep_streamlines",
                                          "delete": ":delete_streamlines"})


def as_streamlines(obj: Any) -> ArraySequence:
    """An ArraySequence from a list of (N, 3) arrays, a Tractogram or a tractogram file."""
    if isinstance(obj, ArraySequence):
        return obj
    if hasattr(obj, "streamlines"):
        return as_streamlines(obj.streamlines)
    try:
        seq = ArraySequence([np.asarray(s, dtype=np.float32).reshape(-1, 3) for s in obj])
    except (TypeError, ValueError) as exc:
        raise ImagingError(f"streamlines must be (N, 3) point arrays: {exc}") from None
    return seq


def flatten(streamlines: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All points (P, 3) (float32/64, not copied when compact), their streamline index (P,),
    and the lengths (S,)."""
    seq = as_streamlines(streamlines)
    lengths = np.asarray(seq._lengths, dtype=np.int64)
    offsets = np.asarray(seq._offsets, dtype=np.int64)
    data = seq._data
    compact = len(data) == lengths.sum() and np.array_equal(offsets, np.cumsum(lengths) - lengths)
    pts = (data if compact else seq.get_data()).reshape(-1, 3)
    if pts.dtype not in (np.float32, np.float64):
        pts = pts.astype(float)
    sid = np.repeat(np.arange(len(lengths)), lengths)
    return pts, sid, lengths


def densify(pts: np.ndarray, sid: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Insert points so that consecutive points of a streamline are at most ``step`` apart."""
    if len(pts) < 2 or np.isinf(step):
        return pts, sid
    seg = pts[1:] - pts[:-1]
    same = sid[1:] == sid[:-1]
    n = np.where(same, np.ceil(np.sqrt((seg**2).sum(1)) / step).astype(np.int64), 1)
    n = np.maximum(n, 1)
    if np.all(n == 1):
        return pts, sid
    reps = np.append(n, 1)
    start = np.repeat(pts, reps, axis=0)
    k = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
    frac = (k / np.repeat(reps, reps))[:, None]
    vec = np.repeat(np.vstack([np.where(same[:, None], seg, 0.0), np.zeros((1, 3))]), reps, axis=0)
    return start + frac * vec, np.repeat(sid, reps)


def load_streamlines(path: str | Path, reference: Any = None) -> ArraySequence:
    """Read a .tck or .trk file; streamlines in world (RAS+) mm.

    Parameters
    ----------
    path : path
        TCK (MRtrix) or TRK (TrackVis) file.
    reference : image or Grid, optional
        Needed for a TRK whose header records no ``vox_to_ras`` (its points are then
        taken as voxel coordinates of the reference).

    Raises
    ------
    ImagingError
        Unknown format, unreadable file, or a TRK without a usable reference.
    """
    path = Path(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", HeaderWarning)
        try:
            tfile = nib.streamlines.load(str(path), lazy_load=False)
        except Exception as exc:  # nibabel raises several types for bad files
            raise ImagingError(f"cannot read streamlines from {path}: {exc}") from None
    seq = tfile.streamlines
    missing = any("vox_to_ras" in str(w.message) for w in caught)
    if missing:
        if reference is None:
            raise ImagingError(
                f"{path} is a TRK file without a reference (its header has no vox_to_ras): "
                "pass reference=<the image it was tracked on>"
            )
        grid = Grid.from_image(reference)
        seq = seq.copy()
        seq._data = grid.voxel_to_world(seq._data).astype(np.float32)
    if len(seq) and not np.all(np.isfinite(seq.get_data())):
        raise ImagingError(f"{path}: the header gives non-finite coordinates (voxel sizes of 0?)")
    return seq


def save_streamlines(streamlines: Any, path: str | Path, reference: Any = None) -> Path:
    """Write streamlines (world mm) to .tck or .trk (TRK needs ``reference``)."""
    path = Path(path)
    seq = as_streamlines(streamlines)
    tract = Tractogram(seq, affine_to_rasmm=np.eye(4))
    if path.suffix == ".trk":
        if reference is None:
            raise ImagingError(
                f"saving {path}: a TRK header needs reference=<image or Grid> for its geometry")
        g = Grid.from_image(reference)
        header = {"dimensions": np.array(g.shape, dtype=np.int16),
                  "voxel_sizes": g.voxel_sizes.astype(np.float32),
                  "voxel_to_rasmm": g.affine.astype(np.float32),
                  "voxel_order": "".join(nib.aff2axcodes(g.affine)).encode()}
        tf: Any = nib.streamlines.TrkFile(tract, header=header)
    elif path.suffix == ".tck":
        tf = nib.streamlines.TckFile(tract)
    else:
        raise ImagingError(f"{path}: streamlines are saved as .tck or .trk, not '{path.suffix}'")
    tmp = path.with_name(path.name + ".part")
    tf.save(str(tmp))
    tmp.replace(path)
    return path


def _hits_to_mask(sid_hit: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[sid_hit] = True
    return out


def through_sphere(streamlines: Any, centre: Any, radius: float) -> np.ndarray:
    """Streamlines passing within ``radius`` mm of ``centre`` (segments tested exactly)."""
    pts, sid, lengths = flatten(streamlines)
    c = np.asarray(centre, dtype=float).reshape(3)
    if not radius > 0:
        raise ImagingError(f"sphere radius must be > 0 mm, got {radius}")
    hit = ((pts - c) ** 2).sum(1) <= radius**2
    if len(pts) > 1:
        a, b = pts[:-1], pts[1:]
        ab = b - a
        den = np.maximum((ab**2).sum(1), 1e-12)
        t = np.clip(((c - a) * ab).sum(1) / den, 0.0, 1.0)
        d2 = ((a + t[:, None] * ab - c) ** 2).sum(1)
        seg_hit = (d2 <= radius**2) & (sid[1:] == sid[:-1])
        hit[:-1] |= seg_hit
    return _hits_to_mask(sid[hit], len(lengths))


def _roi_volume(roi: Any) -> tuple[np.ndarray, Grid]:
    data, grid = as_volume(roi, "ROI")
    return np.asarray(data) != 0, grid


def through_roi(streamlines: Any, roi: Any, *, endpoints_only: bool = False) -> np.ndarray:
    """Streamlines with a point (segments densified to half a voxel) inside ``roi``.

    ``~through_roi(...)`` selects those not passing it. With ``endpoints_only`` only the
    first and last points count (fibers ending in the ROI).
    """
    mask, grid = _roi_volume(roi)
    pts, sid, lengths = flatten(streamlines)
    if endpoints_only:
        ends = np.concatenate([np.cumsum(lengths) - lengths,
                               np.cumsum(lengths) - 1])[np.tile(lengths > 0, 2)]
        pts, sid = pts[ends], sid[ends]
    else:
        pts, sid = densify(pts, sid, 0.5 * float(grid.voxel_sizes.min()))
    ijk = np.rint(grid.world_to_voxel(pts)).astype(np.int64)
    inside = np.all((ijk >= 0) & (ijk < grid.shape), axis=1)
    hit = np.zeros(len(pts), dtype=bool)
    hit[inside] = mask[tuple(ijk[inside].T)]
    return _hits_to_mask(sid[hit], len(lengths))


def by_waypoints(streamlines: Any, waypoints: Any, radius: float, *,
                 ordered: bool = False) -> np.ndarray:
    """Streamlines passing within ``radius`` mm of every waypoint (a freeline annotation).

    With ``ordered``, they must pass them in the given order (in either direction along
    the streamline). Segments are densified to ``radius / 2``.
    """
    wp = np.asarray(getattr(waypoints, "coords", waypoints), dtype=float).reshape(-1, 3)
    if len(wp) == 0:
        raise ImagingError("by_waypoints needs at least one waypoint")
    if not radius > 0:
        raise ImagingError(f"waypoint radius must be > 0 mm, got {radius}")
    pts, sid, lengths = flatten(streamlines)
    pts, sid = densify(pts, sid, radius / 2)
    n = len(lengths)
    first = np.full((len(wp), n), -1, dtype=np.int64)
    order = np.arange(len(pts))
    for w, c in enumerate(wp):
        hit = ((pts - c) ** 2).sum(1) <= radius**2
        hs, hi = sid[hit], order[hit]
        start = np.r_[True, hs[1:] != hs[:-1]] if len(hs) else np.zeros(0, bool)
        first[w, hs[start]] = hi[start]
    sel = np.all(first >= 0, axis=0)
    if ordered and len(wp) > 1:
        d = np.diff(first, axis=0)
        sel &= np.all(d > 0, axis=0) | np.all(d < 0, axis=0)
    return sel


def _check_mask(streamlines: ArraySequence, mask: Any) -> np.ndarray:
    m = np.asarray(mask, dtype=bool)
    if m.shape != (len(streamlines),):
        raise ImagingError(f"selection has {m.shape} entries for {len(streamlines)} streamlines")
    return m


def keep_streamlines(streamlines: Any, mask: Any) -> ArraySequence:
    """Only the selected streamlines."""
    seq = as_streamlines(streamlines)
    return seq[np.flatnonzero(_check_mask(seq, mask))]


def delete_streamlines(streamlines: Any, mask: Any) -> ArraySequence:
    """Every streamline except the selected ones (NORA's "delete by sphere/ROI")."""
    seq = as_streamlines(streamlines)
    return seq[np.flatnonzero(~_check_mask(seq, mask))]

"""A simple deterministic fiber tracking on a tensor or orientation field.

Streamlines follow the principal direction (Euler steps of ``step_mm``, nearest-voxel
lookup, sign aligned with the previous step) from each seed in both directions, and
stop where the FA drops below ``fa_threshold``, the direction turns by more than
``max_angle_deg`` in one step, or they leave the volume. All seeds advance together as
one vectorized front.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from nibabel.streamlines import ArraySequence

from nora_lab._lazy import deprecated_names
from nora_lab.errors import ImagingError

from .grid import Grid, as_volume

__all__ = ["track_streamlines", "tensor_to_direction"]

#: the name before 0.2 (too generic for ``nora_lab.imaging``'s namespace)
__getattr__ = deprecated_names(__name__, {"track": ":track_streamlines"})


def tensor_to_direction(tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Principal eigenvector (X, Y, Z, 3) and FA (X, Y, Z) of a tensor field.

    ``tensor`` holds the 6 unique elements ``(Dxx, Dxy, Dxz, Dyy, Dyz, Dzz)`` in the last
    axis, in world (RAS) orientation.
    """
    t = np.asarray(tensor, dtype=float)
    if t.ndim != 4 or t.shape[3] != 6:
        raise ImagingError(f"a tensor field must be (X, Y, Z, 6), got shape {t.shape}")
    xx, xy, xz, yy, yz, zz = np.moveaxis(t, 3, 0)
    m = np.stack([np.stack([xx, xy, xz], -1), np.stack([xy, yy, yz], -1),
                  np.stack([xz, yz, zz], -1)], -2)
    w, v = np.linalg.eigh(m)
    md = w.mean(-1, keepdims=True)
    num = np.sqrt(((w - md) ** 2).sum(-1))
    den = np.sqrt((w**2).sum(-1))
    fa = np.sqrt(1.5) * np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return v[..., :, 2], fa


def _seed_points(seeds: Any, grid: Grid) -> np.ndarray:
    if hasattr(seeds, "data") and hasattr(seeds, "grid") or hasattr(seeds, "dataobj"):
        data, sgrid = as_volume(seeds, "seed ROI")
        return sgrid.voxel_to_world(np.argwhere(np.asarray(data) != 0))
    pts = np.asarray(getattr(seeds, "coords", seeds), dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ImagingError(f"seeds must be (N, 3) world points or an ROI, got shape {pts.shape}")
    return pts


def track_streamlines(
    field: Any, seeds: Any, *, fa: Any = None, fa_threshold: float = 0.2, step_mm: float = 0.5,
    max_angle_deg: float = 45.0, max_steps: int = 2000, min_length_mm: float = 0.0,
) -> ArraySequence:
    """Track streamlines through a direction or tensor field.

    Parameters
    ----------
    field : nibabel image or (array, affine)
        (X, Y, Z, 3) principal directions in world (RAS) orientation, or (X, Y, Z, 6)
        tensors (then FA comes from the tensors unless ``fa`` is given).
    seeds : (N, 3) world points, PointSet, or ROI/mask image (one seed per voxel)
        Start points.
    fa : image or array, optional
        FA (or any anisotropy map) on the field's grid; without it and for a direction
        field the FA stop is off.
    fa_threshold, step_mm, max_angle_deg, max_steps, min_length_mm
        Stop criteria and step size; shorter streamlines are dropped.

    Returns
    -------
    nibabel.streamlines.ArraySequence
        Streamlines in world mm, one per seed that survives ``min_length_mm``.
    """
    if isinstance(field, tuple):
        data, affine = np.asarray(field[0], dtype=float), field[1]
    else:
        data, affine = np.asarray(field.dataobj, dtype=float), field.affine
    if data.ndim != 4 or data.shape[3] not in (3, 6):
        raise ImagingError(
            "tracking needs an (X, Y, Z, 3) direction or (X, Y, Z, 6) tensor field, got "
            f"{data.shape}")
    if not step_mm > 0 or not 0 < max_angle_deg <= 180:
        raise ImagingError(
            f"step_mm must be > 0 and max_angle_deg in (0, 180], got {step_mm}, {max_angle_deg}")
    grid = Grid(data.shape[:3], affine)
    if data.shape[3] == 6:
        dirs, fa_map = tensor_to_direction(data)
    else:
        dirs, fa_map = data, None
    if fa is not None:
        fa_map = np.asarray(fa if isinstance(fa, np.ndarray) else as_volume(fa, "FA")[0],
                            dtype=float)
        if fa_map.shape[:3] != grid.shape:
            raise ImagingError(
                f"FA shape {fa_map.shape} differs from the field's grid {grid.shape}")
        fa_map = fa_map.reshape(grid.shape)
    norms = np.linalg.norm(dirs, axis=-1, keepdims=True)
    dirs = np.divide(dirs, norms, out=np.zeros_like(dirs), where=norms > 0)
    seeds_w = _seed_points(seeds, grid)
    cos_max = np.cos(np.deg2rad(max_angle_deg))

    def lookup(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ijk = np.rint(grid.world_to_voxel(p)).astype(np.int64)
        ok = np.all((ijk >= 0) & (ijk < grid.shape), axis=1)
        d = np.zeros_like(p)
        idx = tuple(ijk[ok].T)
        d[ok] = dirs[idx]
        if fa_map is not None:
            ok[ok] &= fa_map[idx] >= fa_threshold
        ok &= np.linalg.norm(d, axis=1) > 0
        return d, ok

    d0, ok0 = lookup(seeds_w)
    halves = []
    for sign in (1.0, -1.0):
        pos, prev = seeds_w.copy(), sign * d0
        active = ok0.copy()
        path = [pos.copy()]
        for _ in range(max_steps):
            if not active.any():
                break
            nxt = pos + step_mm * prev
            d, ok = lookup(nxt)
            dots = (d * prev).sum(1)
            d[dots < 0] *= -1
            ok &= np.abs(dots) >= cos_max
            active &= ok
            pos = np.where(active[:, None], nxt, pos)
            prev = np.where(active[:, None], d, prev)
            path.append(np.where(active[:, None], pos, np.nan))
        halves.append(np.stack(path, 1))
    out = []
    for s in range(len(seeds_w)):
        if not ok0[s]:
            continue
        fwd = halves[0][s][~np.isnan(halves[0][s][:, 0])]
        bwd = halves[1][s][~np.isnan(halves[1][s][:, 0])][1:][::-1]
        line = np.vstack([bwd, fwd])
        if (len(line) - 1) * step_mm >= min_length_mm:
            out.append(line.astype(np.float32))
    return ArraySequence(out)

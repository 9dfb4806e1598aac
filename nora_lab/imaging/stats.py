"""ROI statistics for every ROI × contrast pair (NORA's "ROIstats" table).

Each contrast is sampled onto the ROI grid through world coordinates — trilinear, NaN
outside the contrast's field of view — but only at the ROI's voxels, not over the whole
volume. Voxels outside a contrast are counted in ``outside_voxels`` and left out of that
contrast's numbers (or raise, with ``strict=True``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nora_lab.errors import ImagingError

from .grid import Grid, apply_affine, as_volume
from .resample import _sample_voxels, voxel_map
from .roi import ROI

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["roi_statistics", "COLUMNS"]

COLUMNS = [
    "roi", "contrast", "voxels", "volume_ml", "area_cm2", "mean", "std", "median",
    "iqr1", "iqr2", "min", "max", "outside_voxels", "cog_x", "cog_y", "cog_z",
]


def _named_contrasts(contrasts: Any) -> list[tuple[str, Any]]:
    if contrasts is None:
        return []
    if isinstance(contrasts, Mapping):
        return [(str(k), v) for k, v in contrasts.items()]
    pair = isinstance(contrasts, tuple) and len(contrasts) == 2 and isinstance(contrasts[0],
                                                                               np.ndarray)
    if pair or not isinstance(contrasts, list | tuple):
        contrasts = [contrasts]
    out = []
    for i, c in enumerate(contrasts):
        fname = c.get_filename() if hasattr(c, "get_filename") else None
        name = getattr(c, "name",
                       None) or (str(fname).rsplit("/", 1)[-1] if fname else f"contrast{i}")
        out.append((name, c))
    return out


def _area_cm2(roi: ROI, box: tuple[slice, ...], count: int) -> float:
    vs = roi.grid.voxel_sizes
    flat = [ax for ax in range(3) if roi.shape[ax] == 1] or [
        ax for ax in range(3) if box[ax].stop - box[ax].start == 1
    ]
    if not flat:
        return float("nan")
    others = [a for a in range(3) if a != flat[0]]
    return count * float(vs[others[0]] * vs[others[1]]) / 100.0


def _values(data: np.ndarray, cgrid: Grid, roi: ROI, idx: np.ndarray, box, mask) -> np.ndarray:
    if cgrid.same_as(roi.grid):
        return np.asarray(data[box][mask], dtype=float)
    m = voxel_map(cgrid, roi.grid)
    ijk = apply_affine(m, idx)
    return _sample_voxels(data, ijk, order=1, cval=np.nan)


def roi_statistics(rois: ROI | Sequence[ROI], contrasts: Any = None, *,
                   strict: bool = False) -> pd.DataFrame:
    """Statistics of every ROI over every contrast.

    Parameters
    ----------
    rois : ROI or sequence of ROI
        The regions (each on its own grid).
    contrasts : image, sequence of images, or mapping name -> image
        nibabel images, ROIs or (array, affine) pairs on any grid. None: geometry only.
    strict : bool
        Raise instead of ignoring ROI voxels that lie outside a contrast.

    Returns
    -------
    pandas.DataFrame
        One row per ROI × contrast with columns ``roi, contrast, voxels, volume_ml,
        area_cm2`` (single-slice ROIs, else NaN), ``mean, std`` (sample std, ddof=1),
        ``median, iqr1, iqr2`` (percentiles 50/25/75, linear), ``min, max,
        outside_voxels`` and the centre of gravity ``cog_x, cog_y, cog_z`` (world mm).

    Raises
    ------
    ImagingError
        An empty ROI; with ``strict``, an ROI reaching outside a contrast.

    Examples
    --------
    >>> roi_statistics([lesion, wm], {"t1": t1, "flair": flair})   # doctest: +SKIP
    """
    import pandas as pd

    rois = [rois] if isinstance(rois, ROI) else list(rois)
    named = [(n, as_volume(c, f"contrast '{n}'")) for n, c in _named_contrasts(contrasts)]
    rows = []
    for roi in rois:
        box = roi.bbox()
        if box is None:
            raise ImagingError(
                f"ROI '{roi.name}' is empty: draw into it before asking for statistics")
        mask = roi.data[box]
        idx = np.argwhere(mask).astype(float) + [s.start for s in box]
        count = len(idx)
        cog = roi.grid.voxel_to_world(idx.mean(axis=0))
        geo = {
            "roi": roi.name, "voxels": count, "volume_ml": count * roi.grid.voxel_volume / 1000.0,
            "area_cm2": _area_cm2(roi, box, count), "cog_x": cog[0], "cog_y": cog[1],
            "cog_z": cog[2],
        }
        if not named:
            rows.append({**geo, "contrast": None, "outside_voxels": 0})
        for cname, (data, cgrid) in named:
            vals = _values(data, cgrid, roi, idx, box, mask)
            vals = vals[~np.isnan(vals)]
            outside = count - len(vals)
            if outside and strict:
                raise ImagingError(
                    f"{outside} of {count} voxels of ROI '{roi.name}' lie outside contrast "
                    f"'{cname}'"
                )
            row = {**geo, "contrast": cname, "outside_voxels": outside}
            if len(vals):
                q1, med, q3 = np.percentile(vals, [25, 50, 75])
                row.update(
                    mean=float(vals.mean()), std=float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
                    median=float(med), iqr1=float(q1), iqr2=float(q3),
                    min=float(vals.min()), max=float(vals.max()),
                )
            rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)

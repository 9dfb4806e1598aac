"""Agreement between readers' ROIs: Dice and Hausdorff distance (part of :mod:`.agreement`)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from nora_lab.errors import ConfigError

__all__ = ["dice", "hausdorff", "roi_agreement"]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient 2|A∩B| / (|A|+|B|) of two masks on the same grid (1 if both empty)."""
    a, b = np.asarray(a) != 0, np.asarray(b) != 0
    if a.shape != b.shape:
        raise ConfigError(f"dice: masks have shapes {a.shape} and {b.shape}; resample first")
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * np.logical_and(a, b).sum() / total)


def _surface_mm(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    edge = mask & ~ndimage.binary_erosion(mask, border_value=0)
    ijk = np.argwhere(edge)
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def hausdorff(a: np.ndarray, b: np.ndarray, affine: np.ndarray | None = None,
              percentile: float = 100.0) -> float:
    """Symmetric Hausdorff distance (mm) between the surfaces of two masks.

    ``affine`` maps voxels to mm (default: 1 mm voxels). ``percentile`` < 100 gives the
    robust variant (e.g. 95: HD95). NaN if either mask is empty.
    """
    from scipy.spatial import cKDTree

    a, b = np.asarray(a) != 0, np.asarray(b) != 0
    aff = np.eye(4) if affine is None else np.asarray(affine, dtype=float)
    if not a.any() or not b.any():
        return float("nan")
    pa, pb = _surface_mm(a, aff), _surface_mm(b, aff)
    dab = cKDTree(pb).query(pa)[0]
    dba = cKDTree(pa).query(pb)[0]
    if percentile >= 100:
        return float(max(dab.max(), dba.max()))
    return float(max(np.percentile(dab, percentile), np.percentile(dba, percentile)))


def roi_agreement(project, results: pd.DataFrame, item: str, *,  # noqa: ANN001
                  mode: str | None = "serious") -> pd.DataFrame:
    """Dice and Hausdorff between every pair of readers' ROIs of the same case/stage/repetition."""
    import nibabel as nib

    col = f"annotation.{item}"
    if col not in results:
        raise ConfigError(f"no ROI item {item!r} in these results")
    df = results if mode is None else results[results["mode"] == mode]
    rows = []
    for (psid, stage, rep), g in df.groupby(["psid", "stage", "repetition"]):
        masks = {}
        for reader, rel in zip(g["reader"], g[col], strict=True):
            if isinstance(rel, str) and rel:
                img: Any = nib.load(project.study_dir(psid) / rel)
                masks[reader] = (np.asarray(img.dataobj) != 0, img.affine)
        for (r1, (m1, aff)), (r2, (m2, _)) in itertools.combinations(sorted(masks.items()), 2):
            rows.append({"psid": psid, "stage": int(stage), "repetition": int(rep),
                         "reader_a": r1, "reader_b": r2, "dice": dice(m1, m2),
                         "hausdorff_mm": hausdorff(m1, m2, aff)})
    return pd.DataFrame(rows, columns=["psid", "stage", "repetition", "reader_a", "reader_b",
                                       "dice", "hausdorff_mm"])



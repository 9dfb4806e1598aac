"""Evaluation: Dice and Hausdorff distance of predictions against the studies' ROIs.

>>> evaluate(proj, "tissue", filters={"subject": "demo0[56]"})     # doctest: +SKIP
        psid class   dice  hausdorff_mm  hd95_mm
0  demo05#MR1    gm  0.87…        …

The measures are the reading tool's (:mod:`nora_lab.reading`'s ``dice`` and
``hausdorff``), on the prediction's grid (the reference is resampled onto it through
world coordinates when it lies on another).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from nora_lab.errors import SegmentError
from nora_lab.reading._roi import dice, hausdorff
from nora_lab.segment import store
from nora_lab.segment.config import ModelConfig
from nora_lab.segment.data import Case, find_cases, load_case, select_studies
from nora_lab.segment.jobs import output_folder

if TYPE_CHECKING:
    import pandas as pd

    from nora_lab.archive import Project

__all__ = ["evaluate", "scores"]


def scores(pred: np.ndarray, ref: np.ndarray, classes: tuple[str, ...],
           affine: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Per class: ``class, dice, hausdorff_mm, hd95_mm`` of two label maps on one grid."""
    out = []
    for k, c in enumerate(classes, 1):
        a, b = pred == k, ref == k
        out.append({"class": c, "dice": dice(a, b), "hausdorff_mm": hausdorff(a, b, affine),
                    "hd95_mm": hausdorff(a, b, affine, percentile=95)})
    return out


def evaluate(project: Project, model: str, studies: Any = None, *,
             filters: Any = None) -> pd.DataFrame:
    """Compare a model's stored predictions with the studies' own labels.

    Parameters
    ----------
    project, model
        The project and the model (its predictions in ``seg/<model>/labels.nii.gz``,
        its label patterns in its config).
    studies, filters
        The studies (default: every study with both a prediction and labels).

    Returns
    -------
    pandas.DataFrame
        One row per study and class: ``psid, class, dice, hausdorff_mm, hd95_mm,
        split`` (``train``, ``validation`` or ``held out``).

    Raises
    ------
    SegmentError
        No study has both a prediction and labels.
    """
    import pandas as pd

    rec = store.get_record(project, model)
    cfg = ModelConfig.from_dict(rec["config"])
    pred_pattern = f"{output_folder(model)}/labels.nii.gz"
    psids = select_studies(project, studies, filters)
    if studies is None:
        have_pred = set(project.files(pred_pattern)["psid"])
        have_labels = [p for p in psids if p in have_pred and all(
            project.resolve(p, pat) for pat in
            ([cfg.labels] if isinstance(cfg.labels, str) else cfg.labels.values()))]
        psids = have_labels
    if not psids:
        raise SegmentError(f"model {model!r}: no selected study has both a prediction "
                           f"({pred_pattern}; run nora_lab.segment.apply) and labels")
    ref_cfg = cfg.replace(images=(pred_pattern,))
    split = {**{p: "validation" for p in rec.get("validated_on") or []},
             **{p: "train" for p in rec.get("trained_on") or []}}
    rows = []
    for case in find_cases(project, ref_cfg, psids):
        vol = load_case(Case(case.psid, case.images, case.labels), ref_cfg)
        pred = np.rint(vol.image[0]).astype(np.uint8)
        assert vol.label is not None  # load_case always reads the labels
        for r in scores(pred, vol.label, cfg.classes, vol.affine):
            rows.append({"psid": case.psid, **r, "split": split.get(case.psid, "held out")})
    return pd.DataFrame(rows, columns=["psid", "class", "dice", "hausdorff_mm", "hd95_mm",
                                       "split"])

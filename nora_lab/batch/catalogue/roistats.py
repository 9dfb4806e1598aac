"""ROI statistics for a cohort: every ROI × image of every study, as the ROI tool computes
them (:func:`nora_lab.imaging.roi_statistics`), stored as the study's JSON metadata and
gathered into one tidy table for the whole batch.

The job writes ``META/roistats.json`` (by default) in each study::

    {"columns": [...], "rois": {"gm": {"t1": {"voxels": 1234, "mean": 0.61, ...}}}}

which ``nora -p P --exportmeta '*' 'META/roistats.json'`` exports as NORA does, and
:func:`cohort_table` gathers into one row per study × ROI × image (and a CSV).

>>> Job.builtin("roi_stats", rois="tissue/*m.nii.gz", images="t1*/s0*.nii")  # doctest: +SKIP
>>> cohort_table(run, csv="cohort.csv")                                      # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nora_lab.batch.catalogue._job import catalogue_job, fail, output, read_nib

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["roi_stats", "cohort_table", "DEFAULT_NAME"]

DEFAULT_NAME = "META/roistats.json"
_EXT = (".nii.gz", ".nii", ".mgz", ".mgh", ".nrrd", ".gz")


def _stem(path: str) -> str:
    low = path.lower()
    for ext in _EXT:
        if low.endswith(ext):
            return path[: -len(ext)]
    return path


def _names(paths: Sequence[str]) -> list[str]:
    """Each file's name without extension; the path inside the study where names repeat."""
    stems = [_stem(Path(p).name) for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    cwd = os.getcwd()
    return [_stem(os.path.relpath(p, cwd)) if not os.path.relpath(p, cwd).startswith("..")
            else _stem(p) for p in paths]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value.item() if hasattr(value, "item") else value


@catalogue_job("roi_stats", args={"rois": "FILE+", "images": "FILE+", "out": "OUT"},
               library="nibabel")
def roi_stats(rois: list[str], images: list[str], out: str = f"{DEFAULT_NAME} TAG(roistats)",
              threshold: float = 0.5) -> None:
    """Statistics of every ROI over every image, as the ROI tool's table.

    Parameters
    ----------
    rois
        ROI masks (NIfTI; voxels above ``threshold`` belong to the ROI), on any grid.
    images
        The images (contrasts), on any grid: sampled through world coordinates.
    out
        The study's JSON: ``{"columns": [...], "rois": {roi: {image: {stat: value}}}}``.
    threshold
        Mask threshold for probability maps.
    """
    from nora_lab.imaging import ROI, roi_statistics
    from nora_lab.imaging.stats import COLUMNS

    regions = []
    for path, name in zip(rois, _names(rois), strict=True):
        roi = ROI.from_nifti(read_nib(path, "rois"), name=name, threshold=float(threshold))
        if roi.count == 0:
            raise fail("roi_stats", f"ROI {name!r} is empty (no voxel above {threshold})",
                       arg="rois", path=path)
        regions.append(roi)
    contrasts = {name: read_nib(path, "images") for path, name in zip(images, _names(images),
                                                                        strict=True)}
    table = roi_statistics(regions, contrasts)
    doc: dict[str, Any] = {"columns": [c for c in COLUMNS if c not in ("roi", "contrast")],
                           "rois": {}}
    for row in table.to_dict("records"):
        stats = {k: _clean(row[k]) for k in doc["columns"]}
        doc["rois"].setdefault(row["roi"], {})[row["contrast"]] = stats
    with output(out) as tmp:
        tmp.write_text(json.dumps(doc, indent=1, allow_nan=False))


def cohort_table(source: Any, studies: Sequence[str] | None = None, *,
                 name: str = DEFAULT_NAME, csv: str | os.PathLike | None = None) -> pd.DataFrame:
    """Gather the studies' ROI statistics into one tidy table.

    Parameters
    ----------
    source
        A project, or a :class:`~nora_lab.batch.BatchRun` (its project and studies).
    studies
        Only these PSIDs (default: the run's, or every study that has the file).
    name
        The JSON file the ``roi_stats`` jobs wrote (a file pattern).
    csv
        Also write the table to this CSV file (atomically).

    Returns
    -------
    pandas.DataFrame
        One row per study × ROI × image: ``psid, subject, study, roi, image`` and the
        ROI tool's statistics (``voxels, volume_ml, mean, std, median, …``).
    """
    import pandas as pd

    project = getattr(source, "project", source)
    if studies is None and hasattr(source, "units"):
        studies = [u.key for u in source.units]
    files = project.files(name)
    if studies is not None:
        files = files[files["psid"].isin(set(studies))]
    rows, columns = [], []
    for f in files.itertuples():
        try:
            doc = json.loads(Path(f.path).read_text())
        except (OSError, ValueError) as exc:
            raise fail("roi_stats", f"cannot read the study's statistics ({exc})",
                       arg="json", path=f.path) from exc
        columns = columns or doc.get("columns", [])
        subject, _, study = f.psid.partition("#")
        for roi, per_image in doc.get("rois", {}).items():
            for image, stats in per_image.items():
                rows.append({"psid": f.psid, "subject": subject, "study": study, "roi": roi,
                             "image": image, **stats})
    head = ["psid", "subject", "study", "roi", "image"]
    stats = [c for c in columns if c not in head]
    df = pd.DataFrame(rows, columns=head + stats)
    df[stats] = df[stats].apply(pd.to_numeric)  # JSON null (no value): NaN
    if csv is not None:
        with output(csv) as tmp:
            df.to_csv(tmp, index=False)
    return df

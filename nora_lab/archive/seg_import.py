"""DICOM SEG in: each segment of a Segmentation becomes an ROI on the grid of the series it
references.

>>> import_seg(proj, "P01#1", "seg.dcm")        # doctest: +SKIP
>>> import_seg(proj, "P01#1", proj.resolve("P01#1", "300_*/dicom.tar.gz")[0])  # doctest: +SKIP

The SEG is a file, or the ``dicom.tar.gz`` in which the DICOM import kept a pulled SEG
series' originals (``keep_dicom=True``): a SEG pulled from a PACS is imported from there.

The SEG is read with highdicom (:meth:`highdicom.seg.Segmentation.get_volume`: its frames
as one volume, missing slices empty), its referenced series is found among the study's
imported series by the ``SeriesInstanceUID`` of their dcm2niix sidecars, and each segment
is resampled (nearest neighbour, nibabel) onto that NIfTI's voxel grid — for a SEG made on
that series an exact re-indexing. Each segment is written as ``rois/<label>.nii.gz``,
tagged ``roi`` and ``dicom-seg``, with its label, number and the SEG's UIDs in the file's
metadata: what the ROI tool opens and :func:`nora_lab.imaging.to_dicom_seg` writes back.

All segments are added in one transaction; a SEG that is not readable, or that references
a series the study does not hold, raises :class:`~nora_lab.errors.ForeignDataError`
naming the file, and adds nothing. Importing the same SEG again changes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nora_lab.archive._roifiles import roi_file
from nora_lab.errors import ForeignDataError

if TYPE_CHECKING:
    import pandas as pd

    from nora_lab.archive.project import Project

__all__ = ["import_seg", "referenced_series", "SEG_COLUMNS"]

#: The columns of :func:`import_seg`'s table.
SEG_COLUMNS = ["segment_number", "label", "relpath", "voxels"]
_LPS_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def referenced_series(seg: Any) -> str:
    """The SeriesInstanceUID the SEG was drawn on (ReferencedSeriesSequence)."""
    refs = seg.get("ReferencedSeriesSequence") or []
    uids = {str(r.SeriesInstanceUID) for r in refs}
    if len(uids) != 1:
        raise ForeignDataError(f"SEG {seg.get('SOPInstanceUID', '?')} references "
                               f"{len(uids)} series; expected one")
    return uids.pop()


def import_seg(project: Project, psid: str, seg_file: str | os.PathLike[str], *,
               reference: str | None = None) -> pd.DataFrame:
    """Import a DICOM SEG into a study as ROIs on its referenced series' grid.

    Parameters
    ----------
    project
        The project (editor role).
    psid
        The study holding the referenced series.
    seg_file
        The SEG file.
    reference
        The relpath of the NIfTI to put the ROIs on; default: the study's one imported
        series whose sidecar has the SEG's referenced SeriesInstanceUID.

    Returns
    -------
    pandas.DataFrame
        One row per segment (:data:`SEG_COLUMNS`).

    Raises
    ------
    ForeignDataError
        The file is not a readable binary/fractional SEG, or its series is not in the
        study (nothing is added then).
    """
    import nibabel as nib
    import pandas as pd
    from nibabel.processing import resample_from_to

    path = Path(seg_file)
    try:
        seg = _read(path)
        series_uid = referenced_series(seg)
        volume = seg.get_volume(combine_segments=False, skip_overlap_checks=True)
    except ForeignDataError as exc:
        raise ForeignDataError(f"{path}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - pydicom/highdicom errors: name the file
        raise ForeignDataError(f"{path}: not a readable DICOM SEG ({type(exc).__name__}: "
                               f"{exc})") from None
    ref_path = _reference(project, psid, series_uid, reference, path)
    ref: Any = nib.load(ref_path)
    affine = _LPS_RAS @ np.asarray(volume.affine, dtype=float)
    grid = (ref.shape[:3], ref.affine)
    files, rows, used = [], [], set[str]()
    for n, number in enumerate(seg.segment_numbers):
        desc = seg.get_segment_description(number)
        label = str(desc.segment_label)
        mask = np.asarray(volume.array[..., n] > 0, dtype=np.uint8)
        on_ref = np.asarray(resample_from_to(nib.Nifti1Image(mask, affine), grid,
                                             order=0).dataobj) > 0
        nf = roi_file(on_ref, ref.affine, label, used, tags=("dicom-seg",), meta={
            "segment_number": int(number), "source": "DICOM SEG",
            "SOPInstanceUID": str(seg.SOPInstanceUID),
            "SeriesInstanceUID": str(seg.SeriesInstanceUID),
            "ReferencedSeriesInstanceUID": series_uid})
        files.append(nf)
        rows.append([int(number), label, nf.relpath, int(on_ref.sum())])
    project.add_files(psid, files)
    return pd.DataFrame(rows, columns=SEG_COLUMNS)


def _read(path: Path) -> Any:
    """The SEG in ``path``: a DICOM file, or the one SEG of a kept ``dicom.tar.gz``."""
    import highdicom as hd

    if not path.name.endswith((".tar.gz", ".tgz", ".tar")):
        return hd.seg.segread(path)
    import io
    import tarfile

    with tarfile.open(path) as tf:
        members = [m for m in tf.getmembers() if m.isfile()]
        if len(members) != 1:
            raise ForeignDataError(f"holds {len(members)} files; expected the one SEG "
                                   "instance of a series")
        data = tf.extractfile(members[0]).read()  # type: ignore[union-attr]
    return hd.seg.segread(io.BytesIO(data))


def _reference(project: Project, psid: str, series_uid: str, reference: str | None,
               path: Path) -> str:
    if reference is not None:
        found = project.resolve(psid, reference)
        if len(found) != 1:
            raise ForeignDataError(f"{path}: reference {reference!r} matches {len(found)} "
                                   f"files of study {psid!r}; expected one NIfTI")
        return str(found[0])
    files = project.files("*.nii*", psid=psid, meta_keys=["SeriesInstanceUID"])
    hits = files[files.SeriesInstanceUID == series_uid]
    if hits.empty:
        held = sorted({str(u) for u in files.SeriesInstanceUID.dropna()})
        raise ForeignDataError(
            f"{path}: the SEG references series {series_uid}, which study {psid!r} does not "
            f"hold (its series: {', '.join(held) or 'none with a SeriesInstanceUID'}); "
            "import that series first, or give reference='<series>/<file>.nii.gz'")
    if len(hits) > 1:
        raise ForeignDataError(
            f"{path}: series {series_uid} became {len(hits)} NIfTIs in study {psid!r} "
            f"({', '.join(hits.relpath)}); choose one with reference=…")
    return str(hits.path.iloc[0])

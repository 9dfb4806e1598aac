"""Export ROIs as a DICOM Segmentation (SEG) object referencing their source series."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from nora_lab.errors import ImagingError

from .grid import Grid
from .roi import ROI

__all__ = ["series_grid", "to_dicom_seg"]

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def series_grid(datasets: Sequence[Any]) -> tuple[Grid, list[Any]]:
    """The voxel grid (RAS+) of a single-frame DICOM series and its slices sorted in it.

    Voxel ``(i, j, k)`` is column ``i``, row ``j`` of the ``k``-th slice along the
    slice normal (nibabel's convention for DICOM).

    Raises
    ------
    ImagingError
        Missing geometry attributes, mixed orientations or sizes, or duplicate slices.
    """
    if not datasets:
        raise ImagingError("no DICOM datasets given for the source series")
    try:
        iop = np.array([float(v) for v in datasets[0].ImageOrientationPatient])
        rs, cs = (float(v) for v in datasets[0].PixelSpacing)
        rows, cols = int(datasets[0].Rows), int(datasets[0].Columns)
        ipps = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in datasets])
    except AttributeError as exc:
        raise ImagingError(f"source series lacks a geometry attribute: {exc}") from None
    for ds in datasets:
        if not np.allclose([float(v) for v in ds.ImageOrientationPatient], iop, atol=1e-4) or \
                (int(ds.Rows), int(ds.Columns)) != (rows, cols):
            raise ImagingError(
                "source series mixes orientations or sizes (SOP "
                f"{getattr(ds, 'SOPInstanceUID', '?')}); "
                "export one uniform series"
            )
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    dist = ipps @ normal
    order = np.argsort(dist)
    sd = np.diff(dist[order])
    if len(sd) and np.any(sd < 1e-4):
        raise ImagingError("source series has two slices at the same position")
    if len(sd) and not np.allclose(sd, sd.mean(), rtol=1e-3, atol=1e-3):
        raise ImagingError("source series has uneven slice spacing; it cannot form one voxel grid")
    step = (ipps[order[-1]] - ipps[order[0]]) / max(len(order) - 1, 1) if len(order) > 1 else \
        normal * float(getattr(datasets[0], "SliceThickness", 1.0) or 1.0)
    lps = np.eye(4)
    lps[:3, 0] = row_dir * cs
    lps[:3, 1] = col_dir * rs
    lps[:3, 2] = step
    lps[:3, 3] = ipps[order[0]]
    return Grid((cols, rows, len(order)), _LPS_TO_RAS @ lps), [datasets[i] for i in order]


def _on_series(roi: ROI, grid: Grid) -> np.ndarray:
    m = np.linalg.inv(roi.affine) @ grid.affine
    if not (np.allclose(m[:3, :3], np.round(m[:3, :3]), atol=1e-3)
            and np.allclose(m[:3, 3], np.round(m[:3, 3]), atol=1e-3)
            and np.allclose(np.abs(np.round(m[:3, :3])).sum(0), 1)):
        raise ImagingError(
            f"ROI '{roi.name}' {roi.grid} is not on the voxel grid of the source series {grid}; "
            "draw it on that series (or resample it there) before exporting DICOM SEG"
        )
    return ndi.affine_transform(roi.data.astype(np.uint8), np.round(m[:3, :3]),
                                offset=np.round(m[:3, 3]),
                                output_shape=grid.shape, order=0, mode="constant",
                                cval=0).astype(bool)


def _same_orientation(slices: list[Any]) -> list[Any]:
    """Copies of the slices sharing the first one's ImageOrientationPatient.

    highdicom requires identical orientations; scanners write values that differ in the
    last digits (GE: about 1e-8). :func:`series_grid` has already checked they agree
    within 1e-4, so the copies only round away that noise; the originals are untouched.
    """
    import copy

    first = list(slices[0].ImageOrientationPatient)
    if all(list(ds.ImageOrientationPatient) == first for ds in slices):
        return slices
    out = []
    for ds in slices:
        ds = copy.deepcopy(ds)
        ds.ImageOrientationPatient = first
        out.append(ds)
    return out


def to_dicom_seg(
    source: Sequence[Any], rois: ROI | Sequence[ROI], *, series_number: int = 300,
    series_description: str = "nora_lab ROI", manufacturer: str = "nora_lab",
    omit_empty_frames: bool = True,
) -> Any:
    """A binary DICOM SEG of ``rois`` (one segment each) referencing the source series.

    Parameters
    ----------
    source : sequence of pydicom.Dataset
        The single-frame images of the series the ROIs were drawn on.
    rois : ROI or sequence of ROI
        On the series' voxel grid (any axis order/flip of it).
    series_number, series_description, manufacturer : optional
        Written into the SEG.
    omit_empty_frames : bool
        Leave out frames where no segment is present.

    Returns
    -------
    highdicom.seg.Segmentation
        A pydicom Dataset; ``.save_as(path)`` writes it.

    Raises
    ------
    ImagingError
        An ROI off the series grid, an empty ROI, or an unusable series.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    rois = [rois] if isinstance(rois, ROI) else list(rois)
    if not rois:
        raise ImagingError("to_dicom_seg needs at least one ROI")
    grid, slices = series_grid(source)
    masks = []
    for roi in rois:
        m = _on_series(roi, grid)
        if not m.any():
            raise ImagingError(f"ROI '{roi.name}' is empty on the source series; nothing to export")
        masks.append(m.transpose(2, 1, 0))  # (slice, row, column)
    pixel_array = np.stack(masks, axis=-1).astype(np.uint8)
    slices = _same_orientation(slices)
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=n, segment_label=roi.name[:64],
            segmented_property_category=codes.SCT.Tissue, segmented_property_type=codes.SCT.Tissue,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for n, roi in enumerate(rois, start=1)
    ]
    try:
        seg = hd.seg.Segmentation(
            source_images=slices, pixel_array=pixel_array,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions, series_instance_uid=hd.UID(),
            series_number=series_number, sop_instance_uid=hd.UID(), instance_number=1,
            manufacturer=manufacturer, manufacturer_model_name="nora_lab.imaging",
            software_versions="nora_lab", device_serial_number="0",
            series_description=series_description, omit_empty_frames=omit_empty_frames,
        )
    except (ValueError, AttributeError, TypeError) as exc:
        raise ImagingError(f"highdicom refused the SEG for this series: {exc}") from None
    return seg

"""Write a volume as a DICOM MR series: one single-frame MR Image Storage file per slice.

Geometry as a scanner writes it: axial slices (ImageOrientationPatient ``1\\0\\0\\0\\1\\0``),
ImagePositionPatient of each slice's first pixel, PixelSpacing, SliceThickness and
SpacingBetweenSlices of the grid; 16-bit unsigned pixels (12 stored). The header carries
the patient, study and series a user would search for (PatientID/Name, StudyDate,
StudyDescription, SeriesDescription "T1 MPRAGE", Manufacturer …) and an MPRAGE's timing.
UIDs are derived from the subject (:func:`pydicom.uid.generate_uid` with fixed entropy
sources), so writing the same subject again gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from .cohort import Subject
from .scan import MAX_VALUE, Grid

__all__ = ["write_series", "SERIES_NUMBER", "SERIES_DESCRIPTION"]

SERIES_NUMBER = 2
SERIES_DESCRIPTION = "T1 MPRAGE"
#: MPRAGE timing of a 3 T scanner (ms, degrees)
_SEQUENCE = {"RepetitionTime": 2300.0, "EchoTime": 2.98, "InversionTime": 900.0,
             "FlipAngle": 9.0}


def _uid(*parts: object) -> str:
    return generate_uid(entropy_srcs=["nora_lab demo", *map(str, parts)])


def _ds(value: float) -> str:
    """A DS value without float noise (``-84`` not ``-84.0000000001``)."""
    return f"{value:.6g}"


def _common(subject: Subject, grid: Grid) -> Dataset:
    """Every slice's header but the per-slice elements."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
    ds.SOPClassUID = MRImageStorage
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = subject.date
    ds.StudyTime = "093000"
    ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = f"09{30 + subject.number:02d}00"
    ds.AccessionNumber = ""
    ds.Modality = "MR"
    ds.Manufacturer = "SIEMENS"
    ds.InstitutionName = "nora_lab demo site"
    ds.ReferringPhysicianName = ""
    ds.StationName = "DEMO3T"
    ds.StudyDescription = "MR Head"
    ds.SeriesDescription = SERIES_DESCRIPTION
    ds.ManufacturerModelName = "Synthetic 3T"
    ds.PatientName = f"Demo^{subject.id}"
    ds.PatientID = subject.id
    ds.PatientBirthDate = f"{int(subject.date[:4]) - subject.age}0101"
    ds.PatientSex = subject.sex
    ds.PatientAge = f"{subject.age:03d}Y"
    ds.BodyPartExamined = "HEAD"
    ds.ScanningSequence = ["GR", "IR"]
    ds.SequenceVariant = ["SP", "MP"]
    ds.SequenceName = "*tfl3d1_16ns"
    ds.ScanOptions = "IR"
    ds.MRAcquisitionType = "3D"
    ds.SliceThickness = _ds(1.0)
    ds.SpacingBetweenSlices = _ds(1.0)
    for key, value in _SEQUENCE.items():
        setattr(ds, key, _ds(value))
    ds.MagneticFieldStrength = _ds(3.0)
    ds.ImagingFrequency = _ds(123.25)
    ds.EchoTrainLength = 1
    ds.ProtocolName = "t1_mprage_1mm"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = _uid(subject.id, "study")
    ds.SeriesInstanceUID = _uid(subject.id, "series", SERIES_NUMBER)
    ds.StudyID = subject.study
    ds.SeriesNumber = SERIES_NUMBER
    ds.AcquisitionNumber = 1
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID = _uid(subject.id, "frame of reference")
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Columns, ds.Rows = grid.shape[0], grid.shape[1]
    ds.PixelSpacing = [_ds(1.0), _ds(1.0)]  # row spacing \ column spacing
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.WindowCenter, ds.WindowWidth = _ds(600.0), _ds(1200.0)
    return ds


def write_series(subject: Subject, volume: np.ndarray, grid: Grid, folder: Path) -> list[Path]:
    """Write ``volume`` (uint16, (columns, rows, slices) on ``grid``) as one DICOM file
    per slice into ``folder`` (created); returns the files in slice order."""
    if volume.shape != grid.shape or volume.dtype != np.uint16 or int(volume.max()) > MAX_VALUE:
        raise ValueError(f"{subject.id}: expected uint16 ≤ {MAX_VALUE} of shape {grid.shape}, "
                         f"got {volume.dtype} {volume.shape}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    common = _common(subject, grid)
    x0, y0, z0 = grid.origin_lps
    paths = []
    for k in range(grid.shape[2]):
        ds = Dataset()
        ds.update(common)
        ds.SOPInstanceUID = _uid(subject.id, "image", SERIES_NUMBER, k)
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [_ds(x0), _ds(y0), _ds(z0 + k)]
        ds.SliceLocation = _ds(z0 + k)
        ds.PixelData = np.ascontiguousarray(volume[:, :, k].T).astype("<u2").tobytes()
        ds.file_meta = meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"IM{k + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths

"""DICOM SEG export of ROIs drawn on a (synthetic) DICOM series."""

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from nora_lab.errors import ImagingError
from nora_lab.imaging import ROI, series_grid, to_dicom_seg

ROWS, COLS, NSLICES = 8, 10, 4


def ct_series(rows=ROWS, cols=COLS, n=NSLICES, spacing=(0.5, 0.7), thickness=2.0):
    """An axial CT series: row spacing 0.5, column spacing 0.7, 2 mm slices, shuffled."""
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    out = []
    for k in range(n):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.PatientName, ds.PatientID = "Test^Phantom", "P001"
        ds.PatientBirthDate, ds.PatientSex = "19700101", "O"
        ds.StudyID, ds.StudyDate, ds.StudyTime, ds.AccessionNumber = "1", "20240101", "120000", "A1"
        ds.ReferringPhysicianName = ""
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", 1, k + 1
        ds.Manufacturer = "synthetic"
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-10.0, -20.0, 30.0 + thickness * k]
        ds.PixelSpacing = list(spacing)
        ds.SliceThickness = thickness
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = 0, 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.PixelData = np.full((rows, cols), 100 * k, np.int16).tobytes()
        out.append(ds)
    return out[::-1][1:] + out[::-1][:1]  # not in slice order


def test_series_grid_is_ras_with_columns_first():
    grid, slices = series_grid(ct_series())
    assert grid.shape == (COLS, ROWS, NSLICES)
    assert [float(s.ImagePositionPatient[2]) for s in slices] == [30, 32, 34, 36]
    # LPS (-10, -20, 30) -> RAS (10, 20, 30); i along -x (0.7 mm), j along -y (0.5 mm)
    assert np.allclose(grid.affine,
                       [[-0.7, 0, 0, 10], [0, -0.5, 0, 20], [0, 0, 2, 30], [0, 0, 0, 1]])


def test_seg_frames_match_the_roi(tmp_path):
    source = ct_series()
    grid, slices = series_grid(source)
    a = ROI(np.zeros(grid.shape), grid.affine, name="lesion")
    a.data[2:5, 1:3, 1] = True  # columns 2..4, rows 1..2 of the 2nd slice
    b = ROI(np.zeros(grid.shape), grid.affine, name="edema")
    b.data[:, :, 3] = True
    seg = to_dicom_seg(source, [a, b])
    seg.save_as(tmp_path / "seg.dcm")
    back = pydicom.dcmread(tmp_path / "seg.dcm")
    assert back.Modality == "SEG" and len(back.SegmentSequence) == 2
    assert [s.SegmentLabel for s in back.SegmentSequence] == ["lesion", "edema"]
    assert back.NumberOfFrames == 2  # empty frames omitted
    frames = back.pixel_array
    by_seg = {}
    for f, fg in zip(frames, back.PerFrameFunctionalGroupsSequence, strict=True):
        segno = fg.SegmentIdentificationSequence[0].ReferencedSegmentNumber
        z = float(fg.PlanePositionSequence[0].ImagePositionPatient[2])
        by_seg[segno] = (z, f)
    z, f = by_seg[1]
    assert z == 32 and f.sum() == 6 and f[1:3, 2:5].all()
    z, f = by_seg[2]
    assert z == 36 and f.all()
    src_uids = {s.ReferencedSOPInstanceUID
                for s in back.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert src_uids == {s.SOPInstanceUID for s in slices}


def test_roi_on_a_flipped_but_equivalent_grid_is_exported():
    source = ct_series()
    grid, _ = series_grid(source)
    flip = np.diag([-1.0, 1, 1, 1])
    flip[0, 3] = COLS - 1
    roi = ROI(np.zeros(grid.shape), grid.affine @ flip, name="flipped")
    roi.data[COLS - 1, 0, 0] = True  # = column 0 of the series
    seg = to_dicom_seg(source, roi)
    assert seg.pixel_array.reshape(-1, ROWS, COLS)[0, 0, 0] == 1


def test_seg_bad_input():
    source = ct_series()
    grid, _ = series_grid(source)
    off = ROI(np.ones((5, 5, 5)), np.diag([1.3, 1.3, 1.3, 1]), name="off")
    with pytest.raises(ImagingError, match="ROI 'off' .* is not on the voxel grid"):
        to_dicom_seg(source, off)
    with pytest.raises(ImagingError, match="ROI 'void' is empty"):
        to_dicom_seg(source, ROI(np.zeros(grid.shape), grid.affine, name="void"))
    with pytest.raises(ImagingError, match="same position"):
        series_grid(source + source[:1])
    del source[0].ImagePositionPatient
    with pytest.raises(ImagingError, match="geometry attribute"):
        series_grid(source)


def test_seg_of_a_real_ge_series_whose_orientations_differ_in_the_last_digits(dicom_dir):
    """GE writes ImageOrientationPatient values that differ by ~1e-8 between slices."""
    from pydicom.misc import is_dicom

    files = sorted(p for p in (dicom_dir / "dcm_qa_ge").rglob("*")
                   if p.is_file() and is_dicom(p))
    dss = [pydicom.dcmread(p) for p in files]
    before = [list(d.ImageOrientationPatient) for d in dss]
    grid, _ = series_grid(dss)
    data = np.zeros(grid.shape, bool)
    data[100:120, 100:120, 60:70] = True
    seg = to_dicom_seg(dss, ROI(data, grid.affine, name="lesion"))
    assert seg.NumberOfFrames == 10
    assert [list(d.ImageOrientationPatient) for d in dss] == before  # sources untouched

"""Import parity with dcm2niix's grouping: what dcm2niix stacks into one output, the import
files as one series, with the same images (SQLite and PostgreSQL).

Each case is DICOM made here (pydicom, 8×8 slices) that one plain dcm2niix run over the
whole folder converts; the import must write the same images and file them as the
series the case names. The cases are where grouping by SeriesInstanceUID and
SeriesNumber and dcm2niix's grouping differ (see ``_dcm2niix_grouping``'s docstring).
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from dicom_helpers import assert_same_image, plain_dcm2niix
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from nora_lab.archive.dicom import import_dicom
from nora_lab.archive.dicom._dcm2niix_grouping import signature, stack_key
from nora_lab.archive.dicom._group import group
from nora_lab.archive.dicom._scan import scan

XA = "syngo MR XA30"
VE = "syngo MR E11"
AXIAL, CORONAL, SAGITTAL = (1, 0, 0, 0, 1, 0), (1, 0, 0, 0, 0, -1), (0, 1, 0, 0, 0, -1)


class Maker:
    """Writes single-frame MR slices (3 per volume) into a folder."""

    def __init__(self, folder: Path):
        self.folder, self.study, self.n = folder, generate_uid(), 0
        folder.mkdir(parents=True, exist_ok=True)

    def volume(self, series_uid: str, number: int, *, software: str = XA,
               series_time: str | None = "101010.000000", protocol: str = "fmri",
               sequence: str = "epfid2d1_64", te: float = 30.0, echo: int = 1,
               image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "M", "NONE"),
               orientation: tuple[int, ...] = AXIAL, slices: int = 3) -> None:
        for z in range(slices):
            self.n += 1
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = MRImageStorage
            meta.MediaStorageSOPInstanceUID = sop = generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = Dataset()
            ds.file_meta = meta
            ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, sop
            ds.StudyInstanceUID, ds.SeriesInstanceUID = self.study, series_uid
            ds.PatientID, ds.PatientName = "P1", "Test^Parity"
            ds.StudyDate, ds.StudyTime = "20250101", "100000"
            if series_time is not None:
                ds.SeriesTime = series_time
            ds.SeriesNumber, ds.InstanceNumber, ds.AcquisitionNumber = number, z + 1, 1
            ds.Modality, ds.Manufacturer, ds.SoftwareVersions = "MR", "Siemens", software
            ds.ProtocolName = ds.SeriesDescription = protocol
            ds.SequenceName, ds.ImageType = sequence, list(image_type)
            ds.EchoTime, ds.EchoNumbers, ds.RepetitionTime, ds.FlipAngle = te, echo, 2000, 90
            normal = np.cross(orientation[:3], orientation[3:])
            ds.ImagePositionPatient = [float(v) for v in normal * 2 * z]
            ds.ImageOrientationPatient = list(orientation)
            ds.PixelSpacing, ds.SliceThickness = [2, 2], 2
            ds.Rows = ds.Columns = 8
            ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
            ds.PixelRepresentation, ds.SamplesPerPixel = 0, 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.PixelData = (np.arange(64, dtype=np.uint16) + 7 * self.n).tobytes()
            ds.save_as(self.folder / f"{self.n:04d}.dcm", enforce_file_format=True)


def _xa_run(m: Maker, *, same_uid: bool = False, **kw) -> None:
    """A 4D run exported as five series 5001…5005, one volume each."""
    uid = generate_uid()
    for v in range(5):
        m.volume(uid if same_uid else generate_uid(), 5001 + v, **kw)


def xa_classic(m: Maker) -> None:
    _xa_run(m)


def xa10a_numbers_one_uid(m: Maker) -> None:
    _xa_run(m, same_uid=True, series_time=None)


def dce_fldyn3d1(m: Maker) -> None:
    for v in range(3):
        m.volume(generate_uid(), 10 + v, software=VE, sequence="*fldyn3d1", protocol="dce")


def xa_classic_other_times(m: Maker) -> None:
    for v in range(3):
        m.volume(generate_uid(), 5001 + v, series_time=f"10101{v}.000000")


def not_xa_same_time(m: Maker) -> None:
    _xa_run(m, software=VE)


def xa_two_protocols_one_time(m: Maker) -> None:
    _xa_run(m)
    for v in range(2):
        m.volume(generate_uid(), 6001 + v, protocol="fieldmap", te=5.0)


def xa_multi_echo(m: Maker) -> None:
    for v in range(3):
        uid = generate_uid()
        for echo, te in ((1, 10.0), (2, 20.0)):
            m.volume(uid, 5001 + v, echo=echo, te=te)


def echoes_in_one_series(m: Maker) -> None:
    uid = generate_uid()
    for echo, te in ((1, 10.0), (2, 20.0)):
        m.volume(uid, 3, software=VE, echo=echo, te=te)


def phase_and_magnitude(m: Maker) -> None:
    uid = generate_uid()
    m.volume(uid, 4, software=VE)
    m.volume(uid, 4, software=VE, image_type=("ORIGINAL", "PRIMARY", "P", "ND"))


def localizer_three_planes(m: Maker) -> None:
    uid = generate_uid()
    for o in (AXIAL, CORONAL, SAGITTAL):
        m.volume(uid, 1, software=VE, protocol="localizer", orientation=o)


def derived_beside_original(m: Maker) -> None:
    uid = generate_uid()
    m.volume(uid, 7, software=VE)
    m.volume(uid, 7, software=VE, image_type=("DERIVED", "PRIMARY", "ADC", "NONE"))


def one_uid_two_numbers(m: Maker) -> None:
    uid = generate_uid()
    m.volume(uid, 8, software=VE)
    m.volume(uid, 9, software=VE)


#: case -> (archive series, NIfTI outputs, volumes of the first output)
CASES = {
    xa_classic: (1, 1, 5),
    xa10a_numbers_one_uid: (1, 1, 5),
    dce_fldyn3d1: (1, 1, 3),
    xa_classic_other_times: (3, 3, 1),
    not_xa_same_time: (5, 5, 1),
    xa_two_protocols_one_time: (2, 2, 5),
    xa_multi_echo: (1, 2, 3),
    echoes_in_one_series: (1, 2, 1),
    phase_and_magnitude: (1, 2, 1),
    localizer_three_planes: (1, 3, 1),
    derived_beside_original: (1, 2, 1),
    one_uid_two_numbers: (2, 2, 1),
}


def _images(paths) -> list[Path]:
    """NIfTI paths ordered by shape and content (to pair ours with dcm2niix's)."""
    def key(p):
        img = nib.load(p)
        return (img.shape, float(np.asanyarray(img.dataobj).sum()))
    return sorted(paths, key=key)


@pytest.mark.parametrize("make", list(CASES), ids=[f.__name__ for f in CASES])
def test_import_files_what_dcm2niix_stacks_as_one_series(make, project, tmp_path):
    n_series, n_outputs, volumes = CASES[make]
    src = tmp_path / "in"
    make(Maker(src))
    plain_dcm2niix(src, tmp_path / "ref")
    ref = _images((tmp_path / "ref").glob("*.nii"))
    assert len(ref) == n_outputs, "the case no longer shows what dcm2niix does"

    report = import_dicom(project, src, progress=False)

    assert report.ok, str(report)
    assert report.count("converted") == n_series, str(report)
    ours = _images(project.files(pattern="*.nii.gz").path)
    assert len(ours) == n_outputs
    for mine, theirs in zip(ours, ref, strict=True):
        assert_same_image(mine, theirs)
    first = max(ours, key=lambda p: nib.load(p).shape[3:] or (1,))
    assert (nib.load(first).shape[3:] or (1,))[0] == volumes


def test_merged_series_lists_its_parts_and_imports_once(project, tmp_path):
    src = tmp_path / "in"
    xa_classic(Maker(src))
    report = import_dicom(project, src, progress=False)
    (rep,) = report.series
    assert rep.series_folder == "5001_fmri" and rep.instances == 15
    assert any("5 series merged" in n and "issue 394" in n for n in rep.notes), rep.notes
    sidecar = json.loads((project.study_dir(rep.psid) / "5001_fmri" / "s5001.json").read_text())
    parts = sidecar["NoraArchive"]["merged_series"]
    assert [p["SeriesNumber"] for p in parts] == [5001, 5002, 5003, 5004, 5005]
    assert len({p["SeriesInstanceUID"] for p in parts}) == 5

    again = import_dicom(project, src, progress=False)
    assert [s.status for s in again.series] == ["already imported"]
    assert len(project.files(pattern="*.nii.gz")) == 1


def test_a_merged_series_arriving_in_parts_is_completed(project, tmp_path):
    src = tmp_path / "in"
    xa_classic(Maker(src))
    files = sorted(src.glob("*.dcm"))
    first = import_dicom(project, files[:9], progress=False)  # volumes 5001-5003
    assert first.count("converted") == 1
    report = import_dicom(project, src, progress=False)
    (rep,) = report.series
    assert rep.status == "converted" and rep.series_folder == "5001_fmri", str(report)
    (path,) = project.files(pattern="*.nii.gz").path
    assert nib.load(path).shape == (8, 8, 3, 5)


def test_keys_and_signatures_follow_dcm2niix(tmp_path):
    m = Maker(tmp_path / "in")
    _xa_run(m)
    m.volume(generate_uid(), 6001, protocol="fieldmap", te=5.0)
    found = scan(tmp_path / "in", staging=tmp_path / "s", workers=1)
    (study,) = group(found.instances)
    keys = {stack_key(i) for i in found.instances}
    assert keys == {("SeriesTime", "101010.000000")}
    assert len({signature(i) for i in found.instances}) == 2
    assert [len(s.instances) for s in study.series] == [15, 3]
    assert [len(s.part_keys) for s in study.series] == [5, 1]

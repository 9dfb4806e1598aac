"""Scanning: headers only, in parallel; every file either indexed or skipped with a reason."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pydicom
import pytest

from nora_lab.archive.dicom._scan import Instance, Skipped, read_instance, scan
from nora_lab.errors import DicomImportError


def _ge_files(dicom_dir):
    return sorted((dicom_dir / "dcm_qa_ge" / "In").glob("*/*"))


def test_real_folder_with_text_files(dicom_dir, tmp_path):
    found = scan(dicom_dir / "dcm_qa_nih" / "In", staging=tmp_path, workers=2)
    assert len(found.instances) == 608
    assert len({i.sop_uid for i in found.instances}) == 608
    assert len(found.skipped) == 10
    for k in found.skipped:
        assert k.path.endswith(".txt") and os.path.isabs(k.path)
        assert k.reason.startswith("not a DICOM file")
    assert sorted(os.path.basename(p) for p, _ in found.others).count("README-Series.txt") == 8


def test_parallel_and_serial_scans_agree(dicom_dir, tmp_path):
    src = dicom_dir / "dcm_qa_nih" / "In" / "20180918GE"
    serial = scan(src, staging=tmp_path, workers=1)
    parallel = scan(src, staging=tmp_path, workers=2)
    assert serial.instances == parallel.instances
    assert serial.skipped == parallel.skipped


def test_header_fields(dicom_dir):
    f = next((dicom_dir / "dcm_qa_nih" / "In" / "20180918GE" / "mr_0004").glob("*.dcm"))
    inst = read_instance(str(f))
    assert isinstance(inst, Instance)
    assert (inst.patient_id, inst.study_id, inst.series_number) == ("DEV", "27018", 4)
    assert inst.series_description == "Axial EPI-FMRI (Interleaved I to S)"
    assert inst.position is not None and inst.orientation is not None
    assert inst.rows == inst.columns == 64


def test_every_transfer_syntax_is_indexed(dicom_dir, tmp_path):
    found = scan(dicom_dir / "dcm_qa_ts" / "In", staging=tmp_path)
    assert not found.skipped
    assert len({i.transfer_syntax for i in found.instances}) >= 7  # 9 files, 7 syntaxes
    assert sorted(i.series_number for i in found.instances) == list(range(1, 10))


def test_enhanced_multiframe_geometry(tmp_path):
    import gzip
    from pathlib import Path

    import nibabel

    data = Path(nibabel.__file__).parent / "nicom" / "tests" / "data"
    p = tmp_path / "mprage.dcm"
    p.write_bytes(gzip.decompress((data / "philips_mprage.dcm.gz").read_bytes()))
    inst = read_instance(str(p))
    assert isinstance(inst, Instance)
    assert inst.frames == 176
    assert inst.position is not None and inst.orientation is not None


def test_truncated_file_is_reported(dicom_dir, tmp_path):
    src = _ge_files(dicom_dir)[10]
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size - 1000])
    out = read_instance(str(cut))
    assert isinstance(out, Skipped)
    assert out.path == str(cut)
    assert out.reason.startswith("truncated")


def test_truncated_compressed_file_is_reported(dicom_dir, tmp_path):
    src = dicom_dir / "dcm_qa_ts" / "In" / "5.dcm"  # JPEG lossless, encapsulated
    cut = tmp_path / "cut5.dcm"
    cut.write_bytes(src.read_bytes()[:-5000])
    out = read_instance(str(cut))
    assert isinstance(out, Skipped) and "truncated" in out.reason


def test_truncated_inside_header_is_reported(dicom_dir, tmp_path):
    src = _ge_files(dicom_dir)[0]
    cut = tmp_path / "head.dcm"
    cut.write_bytes(src.read_bytes()[:1500])
    out = read_instance(str(cut))
    assert isinstance(out, Skipped)
    assert out.reason.startswith(("corrupt", "truncated", "no pixel", "missing"))


def test_pixel_less_object_is_reported(dicom_dir, tmp_path):
    ds = pydicom.dcmread(_ge_files(dicom_dir)[0])
    del ds.PixelData
    p = tmp_path / "nopixels.dcm"
    ds.save_as(p)
    out = read_instance(str(p))
    assert isinstance(out, Skipped) and out.reason.startswith("no pixel data")


def test_garbage_after_preamble_is_reported(tmp_path):
    p = tmp_path / "bad.dcm"
    p.write_bytes(b"\0" * 128 + b"DICM" + os.urandom(3000))
    out = read_instance(str(p))
    assert isinstance(out, Skipped)
    assert out.reason.startswith(("corrupt", "missing", "not a DICOM", "no pixel"))


def test_duplicates_and_lists_of_files(dicom_dir, tmp_path):
    files = [str(f) for f in _ge_files(dicom_dir)[:5]]
    copy = tmp_path / "copy.dcm"
    shutil.copyfile(files[0], copy)
    found = scan([*files, str(copy)], staging=tmp_path)
    assert len(found.instances) == 5
    (dup,) = found.skipped
    assert dup.path == str(copy) and "duplicate SOPInstanceUID" in dup.reason


def test_zip_source(dicom_dir, tmp_path):
    z = tmp_path / "ts.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in sorted((dicom_dir / "dcm_qa_ts" / "In").glob("*.dcm")):
            zf.write(f, f"exam/{f.name}")
        zf.writestr("exam/notes.txt", "not dicom")
    staging = tmp_path / "staging"
    found = scan(z, staging=staging)
    assert len(found.instances) == 9
    assert all(i.source.startswith(f"{z}/exam/") for i in found.instances)
    assert all(i.path.startswith(str(staging)) for i in found.instances)
    assert [k.path for k in found.skipped] == [f"{z}/exam/notes.txt"]


def test_zip_slip_is_refused(tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("../../outside.dcm", b"x")
    with pytest.raises(DicomImportError, match="outside the import folder"):
        scan(z, staging=tmp_path / "staging")
    assert not (tmp_path / "outside.dcm").exists()


def test_missing_source(tmp_path):
    with pytest.raises(DicomImportError, match="does not exist"):
        scan(tmp_path / "nowhere", staging=tmp_path)


def test_dicom_without_preamble_and_big_non_dicom(dicom_dir, tmp_path):
    import struct

    import nibabel as nib
    import numpy as np

    src = _ge_files(dicom_dir)[0]
    raw = src.read_bytes()
    assert raw[128:132] == b"DICM" and raw[132:136] == b"\x02\x00\x00\x00"
    (meta_len,) = struct.unpack("<I", raw[140:144])
    bare = tmp_path / "bare.dcm"
    bare.write_bytes(raw[144 + meta_len:])  # no preamble, no file meta: starts at 0008
    inst = read_instance(str(bare))
    assert isinstance(inst, Instance), inst
    assert inst.sop_uid == str(pydicom.dcmread(src, stop_before_pixels=True).SOPInstanceUID)
    big = tmp_path / "big.nii"
    nib.save(nib.Nifti1Image(np.zeros((64, 64, 64), np.float32), np.eye(4)), big)
    out = read_instance(str(big))
    assert isinstance(out, Skipped) and out.reason.startswith("not a DICOM")


# --- the element walker and pydicom read every file alike -----------------------------


def _all_files(dicom_dir):
    from pydicom.data import get_testdata_files

    files = [p for p in dicom_dir.rglob("*") if p.is_file() and "Ref" not in p.parts]
    return files + [p for p in map(Path, get_testdata_files("*")) if p.is_file()]


def test_walker_and_pydicom_agree_on_every_file(dicom_dir):
    """The fast reader is an optimisation only: same Instance, same Skipped reason."""
    from nora_lab.archive.dicom._instance import _read_pydicom

    files = _all_files(dicom_dir)
    assert len(files) > 1000
    differ = [(str(p), read_instance(str(p)), _read_pydicom(str(p), None)) for p in files]
    differ = [d for d in differ if d[1] != d[2]]
    assert differ == []


def test_walker_reads_scanner_files_and_leaves_the_rest_to_pydicom(dicom_dir):
    from pydicom.data import get_testdata_file

    from nora_lab.archive.dicom._instance import _walked

    def walked(p):
        fd = os.open(p, os.O_RDONLY)
        try:
            return _walked(fd, os.path.getsize(p)) is not None
        finally:
            os.close(fd)

    assert all(walked(p) for p in _ge_files(dicom_dir))
    assert all(walked(p) for p in (dicom_dir / "dcm_qa_nih" / "In").rglob("*.dcm"))
    ts = {p.name: walked(p) for p in (dicom_dir / "dcm_qa_ts" / "In").iterdir()}
    assert ts == {f"{n}.dcm": n != 3 for n in range(1, 10)}  # 3.dcm is big endian
    for name in ("MR_small_bigendian.dcm", "image_dfl.dcm", "no_meta.dcm"):
        assert not walked(get_testdata_file(name)), name


@pytest.mark.parametrize("cut", [200, 600, 2000])
def test_walker_never_accepts_a_file_cut_in_its_header(dicom_dir, tmp_path, cut):
    src = _ge_files(dicom_dir)[3]
    p = tmp_path / "cut.dcm"
    p.write_bytes(src.read_bytes()[:cut])
    out = read_instance(str(p))
    assert isinstance(out, Skipped)
    assert out.path == str(p)


def test_walker_reads_more_when_a_header_outgrows_the_first_read(dicom_dir, monkeypatch):
    """Whatever the first read's size, the fields are those pydicom reads."""
    from nora_lab.archive.dicom import _instance
    from nora_lab.archive.dicom._instance import _read_pydicom

    files = [_ge_files(dicom_dir)[0], next((dicom_dir / "dcm_qa_nih" / "In").rglob("*.dcm")),
             dicom_dir / "dcm_qa_ts" / "In" / "5.dcm"]
    for f in files:
        want = _read_pydicom(str(f), None)
        for first in range(150, 4000, 37):
            monkeypatch.setattr(_instance, "_FIRST_READ", first)
            assert read_instance(str(f)) == want, (f, first)

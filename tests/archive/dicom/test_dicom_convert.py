"""dcm2niix per series: outputs equal to the Ref/ conversions, checked with nibabel."""

from __future__ import annotations

import gzip
import json

import nibabel as nib
import numpy as np
import pytest
from dicom_helpers import NIBABEL_DATA, assert_same_image, assert_same_text_numbers, plain_dcm2niix

from nora_lab.archive.dicom._convert import check_nifti, convert_series, scrub_nifti_header
from nora_lab.archive.dicom._group import group
from nora_lab.archive.dicom._scan import scan


def _series(src, tmp_path):
    found = scan(src, staging=tmp_path / "staging")
    return [s for st in group(found.instances) for s in st.series]


def test_every_transfer_syntax_matches_ref(dicom_dir, tmp_path):
    ref = dicom_dir / "dcm_qa_ts" / "Ref"
    series = _series(dicom_dir / "dcm_qa_ts" / "In", tmp_path)
    assert len(series) == 9
    for s in series:
        conv = convert_series(s.instances, tmp_path / f"w{s.series_number}", "img")
        (out,) = conv.outputs
        assert out.problem is None, out.problem
        assert_same_image(out.nii, ref / f"{s.series_number}.nii")
        assert ".json" in out.sidecars


def test_fmri_and_mosaic_series_match_ref(dicom_dir, tmp_path):
    ref = dicom_dir / "dcm_qa_nih" / "Ref"
    refs = {}
    for j in ref.glob("*.json"):
        meta = json.loads(j.read_text())
        refs[(meta["Manufacturer"].split()[0].upper(),
              meta["SeriesNumber"])] = j.with_suffix(".nii")
    series = _series(dicom_dir / "dcm_qa_nih" / "In", tmp_path)
    assert len(series) == len(refs) == 8
    for s in series:
        conv = convert_series(s.instances, tmp_path / f"w{s.series_uid[-8:]}{s.series_number}",
                              "img")
        (out,) = conv.outputs
        assert out.problem is None
        key = (s.first.manufacturer.split()[0].upper(), s.series_number)
        assert_same_image(out.nii, refs[key])  # includes the 4D volume order
        assert nib.load(out.nii).ndim == 4


def test_dwi_bval_bvec_equal_plain_run(dwi_dir, tmp_path):
    (s,) = _series(dwi_dir, tmp_path)
    conv = convert_series(s.instances, tmp_path / "w", "dwi")
    plain = tmp_path / "plain"
    plain_dcm2niix(dwi_dir, plain)
    assert len(conv.outputs) == 2  # two image sizes in one series: two files, one folder
    refs = {nib.load(p).shape: p for p in plain.glob("*.nii")}
    for out in conv.outputs:
        assert {".json", ".bval", ".bvec"} <= set(out.sidecars)
        ref = refs[out.shape]
        assert_same_image(out.nii, ref)
        assert_same_text_numbers(out.sidecars[".bval"], ref.with_suffix(".bval"))
        assert_same_text_numbers(out.sidecars[".bvec"], ref.with_suffix(".bvec"))
    assert any("Slices not stacked" in m for m in conv.messages)


def test_philips_precise_scaling_is_explicit(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "mprage.dcm").write_bytes(
        gzip.decompress((NIBABEL_DATA / "philips_mprage.dcm.gz").read_bytes()))
    (s,) = _series(src, tmp_path)
    conv = convert_series(s.instances, tmp_path / "w", "t1")
    (out,) = conv.outputs
    assert sorted(out.shape) == [176, 256, 256]
    assert any(m.startswith("Philips Scaling Values") for m in conv.messages)
    display = tmp_path / "display"
    plain_dcm2niix(src, display, "-p", "n")
    ours = nib.load(out.nii)
    disp = nib.load(next(display.glob("*.nii")))
    assert np.array_equal(np.asanyarray(ours.dataobj.get_unscaled()),
                          np.asanyarray(disp.dataobj.get_unscaled()))
    # precise float scaling: 1/(scale slope 2005,100E) = 1/0.00026825 ~ 3728
    assert ours.dataobj.slope == pytest.approx(1 / 0.00026825, rel=1e-3)
    assert disp.dataobj.slope != pytest.approx(ours.dataobj.slope)


def test_refused_series_is_reported(tmp_path):
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 64)
    from nora_lab.archive.dicom._scan import Instance

    fake = Instance(path=str(bad), source=str(bad), sop_uid="1", study_uid="2", series_uid="3")
    conv = convert_series([fake], tmp_path / "w", "x")
    assert conv.outputs == [] and not conv.ok


def _nifti(tmp_path, **hdr):
    img = nib.Nifti1Image(np.zeros((4, 4, 3), np.int16), np.diag([2.0, 2.0, 3.0, 1.0]))
    for k, v in hdr.items():
        img.header[k] = v
    p = tmp_path / "x.nii"
    nib.save(img, p)
    return p


def test_check_nifti_accepts_a_good_file(tmp_path):
    assert check_nifti(_nifti(tmp_path)) == (None, (4, 4, 3))


def test_check_nifti_refuses_nan_scaling(tmp_path):
    p = _nifti(tmp_path)
    raw = bytearray(p.read_bytes())
    raw[112:116] = np.float32(np.nan).tobytes()  # scl_slope
    p.write_bytes(bytes(raw))
    problem, _ = check_nifti(p)
    assert problem and "scl_slope" in problem


def test_check_nifti_refuses_truncated_and_bad_affine(tmp_path):
    p = _nifti(tmp_path)
    p.write_bytes(p.read_bytes()[:-10])
    assert "too short" in check_nifti(p)[0]
    q = _nifti(tmp_path)
    raw = bytearray(q.read_bytes())
    raw[280:284] = np.float32(np.nan).tobytes()  # srow_x[0], the sform in force
    q.write_bytes(bytes(raw))
    assert "affine" in check_nifti(q)[0]
    junk = tmp_path / "junk.nii"
    junk.write_bytes(b"not a nifti")
    assert "nibabel cannot read" in check_nifti(junk)[0]


def test_scrub_header_keeps_acquisition_tokens(tmp_path):
    p = _nifti(tmp_path, descrip=b"TE=30;Time=101010.000;Doe^John", aux_file=b"Doe^John",
               db_name=b"12345")
    scrub_nifti_header(p)
    h = nib.load(p).header
    assert bytes(h["descrip"]).rstrip(b"\0") == b"TE=30;Time=101010.000"
    assert bytes(h["aux_file"]).rstrip(b"\0") == b""
    assert bytes(h["db_name"]).rstrip(b"\0") == b""

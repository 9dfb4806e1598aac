"""filetype(path): every research format recognised by content, not by name."""

from __future__ import annotations

import gzip
import json
import shutil
import struct
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nora_lab.archive.filetypes import FILETYPES, filetype

NIB = Path(nib.__file__).parent / "tests" / "data"
GII = Path(nib.__file__).parent / "gifti" / "tests" / "data"


@pytest.mark.parametrize(("path", "kind"), [
    (NIB / "anatomical.nii", "nifti"),
    (NIB / "example4d.nii.gz", "nifti"),
    (NIB / "example_nifti2.nii.gz", "nifti"),
    (NIB / "nifti1.hdr", "nifti"),
    (NIB / "nifti2.hdr", "nifti"),
    (NIB / "test.mgz", "mgh"),
    (NIB / "simple.tck", "tck"),
    (NIB / "standard.trk", "trk"),
    (NIB / "complex_big_endian.trk", "trk"),
    (GII / "ascii.gii", "gifti"),
    (GII / "gzipbase64.gii", "gifti"),
    (NIB / "0.dcm", "dicom"),
    (NIB / "analyze.hdr", "other"),  # plain Analyze 7.5 is not NIfTI
    (NIB / "minc1_1_scale.mnc", "other"),
    (NIB / "T1.PAR", "other"),
])
def test_shipped_samples(path, kind):
    assert filetype(path) == kind


def test_content_wins_over_the_name(tmp_path):
    fake = tmp_path / "scan.nii.gz"
    fake.write_text(json.dumps({"EchoTime": 0.03}))
    assert filetype(fake) == "json"
    real = tmp_path / "noext"
    shutil.copyfile(NIB / "example4d.nii.gz", real)
    assert filetype(real) == "nifti"


def test_nrrd_mgh_stl_json_written_here(tmp_path):
    import nrrd

    nrrd.write(str(tmp_path / "v.nrrd"), np.zeros((3, 4, 5), np.int16))
    assert filetype(tmp_path / "v.nrrd") == "nrrd"

    mgh = nib.MGHImage(np.zeros((4, 4, 4), np.float32), np.eye(4))
    nib.save(mgh, tmp_path / "v.mgh")
    assert filetype(tmp_path / "v.mgh") == "mgh"

    tri = np.zeros(1, dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    (tmp_path / "b.stl").write_bytes(b"solid but binary".ljust(80, b" ")
                                     + struct.pack("<I", 1) + tri.tobytes())
    assert filetype(tmp_path / "b.stl") == "stl"
    (tmp_path / "a.stl").write_text("solid cube\n facet normal 0 0 1\n  outer loop\n"
                                    "   vertex 0 0 0\n   vertex 1 0 0\n   vertex 0 1 0\n"
                                    "  endloop\n endfacet\nendsolid cube\n")
    assert filetype(tmp_path / "a.stl") == "stl"

    (tmp_path / "list.json").write_text("[1, 2, 3]")
    assert filetype(tmp_path / "list.json") == "json"


@pytest.mark.parametrize("content", [
    b"", b"hello world\n", b"PatientID,Age\nP1,42\n", b"{not json", b"\x1f\x8bgarbage",
    b"NRRD0004\nthis is not a valid header", b"TRACK\0" + b"\0" * 100,
])
def test_unknown_or_broken_content_is_other(tmp_path, content):
    p = tmp_path / "x.dat"
    p.write_bytes(content)
    assert filetype(p) == "other"


def test_truncated_nifti_header_is_other(tmp_path):
    p = tmp_path / "cut.nii"
    p.write_bytes((NIB / "anatomical.nii").read_bytes()[:200])
    assert filetype(p) == "other"


def test_gzipped_truncated_stream_and_missing_file(tmp_path):
    p = tmp_path / "cut.nii.gz"
    p.write_bytes(gzip.compress((NIB / "anatomical.nii").read_bytes())[:40])
    assert filetype(p) == "other"
    assert filetype(tmp_path / "does-not-exist") == "other"


def test_every_answer_fits_the_files_column():
    assert all(len(k) <= 20 for k in FILETYPES)

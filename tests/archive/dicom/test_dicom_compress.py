"""Parallel gzip writes one standard gzip member that every reader accepts."""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import subprocess
import zlib

import numpy as np
import pytest

from nora_lab.archive.dicom._compress import BLOCK, gzip_file


def _payload(n: int) -> bytes:
    rng = np.random.default_rng(n)
    noise = rng.integers(0, 64, n // 2, dtype=np.uint8).tobytes()
    return (noise + bytes(n - len(noise)))[:n]


@pytest.mark.parametrize("size", [0, 1, 1000, BLOCK, BLOCK + 1, 3 * BLOCK + 12345])
def test_round_trip(tmp_path, size):
    data = _payload(size)
    src, dest = tmp_path / "x.nii", tmp_path / "x.nii.gz"
    src.write_bytes(data)
    n = gzip_file(src, dest)
    assert n == dest.stat().st_size
    raw = dest.read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    assert gzip.decompress(raw) == data
    # one member: its trailer holds the CRC and size of the whole content
    crc, isize = struct.unpack("<II", raw[-8:])
    assert (crc, isize) == (zlib.crc32(data), len(data))


def test_system_gzip_accepts_it(tmp_path):
    if shutil.which("gzip") is None:
        pytest.fail("the gzip command is missing (Debian's gzip package)")
    src = tmp_path / "x.nii"
    src.write_bytes(_payload(2 * BLOCK + 7))
    gzip_file(src, tmp_path / "x.nii.gz")
    subprocess.run(["gzip", "-t", str(tmp_path / "x.nii.gz")], check=True)


def test_deterministic_and_levels(tmp_path):
    src = tmp_path / "x.nii"
    src.write_bytes(_payload(3 * BLOCK))
    gzip_file(src, tmp_path / "a.gz")
    gzip_file(src, tmp_path / "b.gz", threads=1)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()
    fast = gzip_file(src, tmp_path / "1.gz", level=1)
    small = gzip_file(src, tmp_path / "9.gz", level=9)
    assert small <= fast
    with pytest.raises(ValueError):
        gzip_file(src, tmp_path / "bad.gz", level=12)


def test_ratio_matches_one_stream_gzip(tmp_path):
    data = _payload(4 * BLOCK)
    src = tmp_path / "x.nii"
    src.write_bytes(data)
    ours = gzip_file(src, tmp_path / "x.nii.gz", level=6)
    single = len(gzip.compress(data, 6))
    assert ours <= single * 1.02, (ours, single)


def test_nibabel_reads_it(tmp_path):
    import nibabel as nib

    arr = np.arange(64 * 64 * 40, dtype=np.int16).reshape(64, 64, 40)
    nib.save(nib.Nifti1Image(arr, np.eye(4)), tmp_path / "a.nii")
    gzip_file(tmp_path / "a.nii", tmp_path / "a.nii.gz")
    os.remove(tmp_path / "a.nii")
    assert np.array_equal(np.asanyarray(nib.load(tmp_path / "a.nii.gz").dataobj), arr)


def test_standard_library_fallback_writes_the_same_format(tmp_path, monkeypatch):
    from nora_lab.archive.dicom import _compress

    monkeypatch.setattr(_compress, "_engine", zlib)
    data = _payload(2 * BLOCK + 99)
    src = tmp_path / "x.nii"
    src.write_bytes(data)
    gzip_file(src, tmp_path / "x.nii.gz")
    assert gzip.decompress((tmp_path / "x.nii.gz").read_bytes()) == data

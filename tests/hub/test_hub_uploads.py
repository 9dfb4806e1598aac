"""Checking an uploaded zip: every refusal names the member and the problem."""

from __future__ import annotations

import stat
import zipfile

import pytest
from hubtest import dicom_zip

from nora_lab.errors import DicomImportError, NoraError
from nora_lab.server.uploads import (
    Limits,
    UploadRejected,
    check_zip,
    extract_multipart,
    is_dicom_start,
)

pytestmark = pytest.mark.hub

DCM = b"\0" * 128 + b"DICM" + b"\2\0\0\0UL\4\0" + b"\0" * 32


def make(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for m in members:
            if isinstance(m, zipfile.ZipInfo):
                zf.writestr(m, DCM)
            else:
                zf.writestr(*m) if isinstance(m, tuple) else zf.writestr(m, DCM)
    return path


def refused(path, limits=None, status=400):
    with pytest.raises(UploadRejected) as err:
        check_zip(path, limits)
    assert err.value.status == status
    assert isinstance(err.value, DicomImportError) and isinstance(err.value, NoraError)
    return str(err.value)


def test_a_zip_of_dicom_passes_and_is_counted(tmp_path):
    z = dicom_zip(tmp_path / "ok.zip", extra={"__MACOSX/._ct.dcm": b"x", "exam/.DS_Store": b"y"})
    summary = check_zip(z)
    assert summary.dicom == 2 and sorted(summary.ignored) == ["__MACOSX/._ct.dcm",
                                                              "exam/.DS_Store"]


def test_dicom_without_the_preamble_is_dicom_too():
    assert is_dicom_start(b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100" + b"\0" * 200)
    assert not is_dicom_start(b"%PDF-1.4" + b"\0" * 200)
    assert not is_dicom_start(b"\x5c\x01\0\0" + b"\0" * 200)  # a NIfTI header


@pytest.mark.parametrize("name, why", [
    ("../../etc/cron.d/x", "climbs out with '..'"),
    ("a/../../x.dcm", "climbs out with '..'"),
    ("/abs/x.dcm", "is an absolute path"),
    ("\\\\server\\share\\x.dcm", "is an absolute path"),
    ("c:\\windows\\x.dcm", "names a drive"),
    ("a\\..\\..\\x.dcm", "climbs out with '..'"),
])
def test_zip_slip_names_are_refused(tmp_path, name, why):
    msg = refused(make(tmp_path / "z.zip", ["ok.dcm", name]))
    assert "zip slip" in msg and repr(name) in msg and why in msg


def test_a_symbolic_link_member_is_refused(tmp_path):
    link = zipfile.ZipInfo("exam/link.dcm")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    msg = refused(make(tmp_path / "z.zip", ["ok.dcm", link]))
    assert "'exam/link.dcm' is a symbolic link" in msg


def test_encrypted_members_are_refused(tmp_path):
    z = make(tmp_path / "z.zip", ["secret.dcm"])
    data = bytearray(z.read_bytes())  # set the "encrypted" flag as an encrypting zip tool does
    data[6] |= 1
    cd = data.index(b"PK\x01\x02")
    data[cd + 8] |= 1
    z.write_bytes(bytes(data))
    msg = refused(z)
    assert "encrypted" in msg and "secret.dcm" in msg


def test_non_dicom_files_are_refused_naming_them(tmp_path):
    members = ["a.dcm"] + [(f"doc{i}.txt", b"hello") for i in range(7)]
    msg = refused(make(tmp_path / "z.zip", members))
    assert "7 of 8 files are not DICOM" in msg and "'doc0.txt'" in msg and "2 more" in msg


def test_no_dicom_at_all_and_not_a_zip_are_refused(tmp_path):
    assert "holds no DICOM" in refused(make(tmp_path / "e.zip", [("__MACOSX/x", b"1")]))
    (tmp_path / "n.zip").write_bytes(b"PK\3\4 but broken")
    assert "not a zip archive" in refused(tmp_path / "n.zip")


def test_limits_on_size_unpacked_size_and_entries(tmp_path):
    z = make(tmp_path / "z.zip", ["a.dcm", "b.dcm", ("c.dcm", DCM + b"\0" * 5000)])
    size = z.stat().st_size
    assert "over the upload limit" in refused(z, Limits(max_upload=size - 1), 413)
    assert "unpacks to" in refused(z, Limits(max_unzipped=1000), 413)
    assert "3 entries, over the limit of 2" in refused(z, Limits(max_members=2), 413)
    assert check_zip(z, Limits(max_upload=size)).dicom == 3


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("NORA_IMPORT_MAX_BYTES", "1e6")
    monkeypatch.setenv("NORA_IMPORT_MAX_FILES", "12")
    assert Limits.from_env() == Limits(max_upload=1_000_000, max_members=12)
    monkeypatch.setenv("NORA_IMPORT_MAX_BYTES", "lots")
    with pytest.raises(DicomImportError, match="NORA_IMPORT_MAX_BYTES='lots'"):
        Limits.from_env()


def test_multipart_file_part_is_extracted_from_disk(tmp_path):
    payload = bytes(range(256)) * 100 + b"\r\n--not-the-boundary\r\n"
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"call\"\r\n\r\n{}\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"thefile\"; filename=\"d.zip\"\r\n"
            b"Content-Type: application/zip\r\n\r\n" + payload + b"\r\n--XyZ--\r\n")
    (tmp_path / "body").write_bytes(body)
    name = extract_multipart(tmp_path / "body", "multipart/form-data; boundary=XyZ",
                             tmp_path / "out")
    assert name == "d.zip" and (tmp_path / "out").read_bytes() == payload


def test_multipart_without_a_file_or_boundary_is_refused(tmp_path):
    (tmp_path / "body").write_bytes(b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n"
                                    b"1\r\n--XyZ--\r\n")
    with pytest.raises(UploadRejected, match="without a file part"):
        extract_multipart(tmp_path / "body", "multipart/form-data; boundary=XyZ", tmp_path / "o")
    with pytest.raises(UploadRejected, match="boundary"):
        extract_multipart(tmp_path / "body", "multipart/form-data", tmp_path / "o")

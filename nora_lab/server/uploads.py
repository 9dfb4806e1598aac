"""Checking an uploaded zip before anything is written to the archive.

An upload is refused, with the HTTP status to answer and a message naming the member and
the problem, when

* it is larger than :attr:`Limits.max_upload` (413), or would unpack to more than
  :attr:`Limits.max_unzipped` or holds more than :attr:`Limits.max_members` entries (413);
* it is not a zip, or a member is encrypted (400);
* a member's path would leave the folder it is unpacked into ("zip slip": an absolute
  path, a drive letter, a ``..`` part, a symbolic link) (400);
* a file is not DICOM (neither the Part 10 ``DICM`` preamble nor a preamble-less
  header that starts with group 0002/0008) (400) — hidden files and ``__MACOSX/``
  entries, which the import never reads, are ignored;
* it holds no DICOM at all (400).

A BIDS zip (``kind="bids"``) passes the same checks but the DICOM ones; it must hold a
``dataset_description.json`` at its top or in its one top folder. A NIfTI upload
(:func:`check_nifti_upload`) must be a ``.nii``/``.nii.gz`` whose header nibabel reads.

Multipart bodies (``curl -F 'thefile=@exam.zip'``, as NORA's HTTP import) are unpacked
from disk by :func:`extract_multipart` without loading the body into memory.
"""

from __future__ import annotations

import mmap
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path, PurePosixPath
from typing import Any

from nora_lab.errors import DicomImportError, UploadRejected

__all__ = ["Limits", "UploadRejected", "ZipSummary", "check_zip", "check_nifti_upload",
           "extract_multipart", "is_dicom_start", "KINDS"]

#: what an upload may be: a zip of DICOM, a BIDS dataset as a zip, one NIfTI file
KINDS = ("dicom", "bids", "nifti")

_GiB = 1024**3
_NO_PREAMBLE_GROUPS = (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08")
_DRIVE = re.compile(r"^[A-Za-z]:")
_SHOWN = 5  # offending names quoted in a message


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(float(value))
    except ValueError:
        raise DicomImportError(f"${name}={value!r}: expected a number of bytes") from None


@dataclass(frozen=True)
class Limits:
    """What an uploaded zip may be; defaults from ``$NORA_IMPORT_MAX_BYTES``,
    ``$NORA_IMPORT_MAX_UNZIPPED`` and ``$NORA_IMPORT_MAX_FILES``."""

    max_upload: int = 2 * _GiB
    max_unzipped: int = 16 * _GiB
    max_members: int = 200_000

    @classmethod
    def from_env(cls) -> Limits:
        d = cls()
        return cls(_env_int("NORA_IMPORT_MAX_BYTES", d.max_upload),
                   _env_int("NORA_IMPORT_MAX_UNZIPPED", d.max_unzipped),
                   _env_int("NORA_IMPORT_MAX_FILES", d.max_members))


@dataclass
class ZipSummary:
    """What a checked zip holds."""

    dicom: int = 0
    ignored: list[str] = field(default_factory=list)  # hidden files, __MACOSX
    unzipped_bytes: int = 0


def is_dicom_start(head: bytes) -> bool:
    """Does a file starting with ``head`` (at least 132 bytes if it has them) look like DICOM?"""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    return len(head) >= 8 and head[:2] in _NO_PREAMBLE_GROUPS


def _unsafe(name: str) -> str | None:
    """Why a member name would escape the unpack folder, or None."""
    if "\x00" in name:
        return "has a NUL character"
    norm = name.replace("\\", "/")
    if norm.startswith("/"):
        return "is an absolute path"
    if _DRIVE.match(norm):
        return "names a drive"
    if ".." in PurePosixPath(norm).parts:
        return "climbs out with '..'"
    return None


def _ignored(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _names(names: list[str]) -> str:
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return ", ".join(repr(n) for n in names[:_SHOWN]) + more


def check_zip(path: str | os.PathLike[str], limits: Limits | None = None,
              *, label: str | None = None, kind: str = "dicom") -> ZipSummary:
    """Check an uploaded zip; raise :class:`UploadRejected` saying why it is refused.

    Parameters
    ----------
    path
        The uploaded file.
    limits
        Size and count limits (default :meth:`Limits.from_env`).
    label
        How to name the upload in messages (default: the file name).
    kind
        ``"dicom"`` (only DICOM files) or ``"bids"`` (a BIDS dataset: any files, a
        ``dataset_description.json`` at the top).

    Returns
    -------
    ZipSummary

    Raises
    ------
    UploadRejected
        With ``status`` 413 (too large) or 400 (not a zip, zip slip, encrypted,
        non-DICOM content, no DICOM).
    """
    limits = limits or Limits.from_env()
    path = Path(path)
    label = label or path.name
    size = path.stat().st_size
    if size > limits.max_upload:
        raise UploadRejected(f"{label}: {size} bytes, over the upload limit of "
                             f"{limits.max_upload} bytes; split the upload or ask the admin "
                             "to raise NORA_IMPORT_MAX_BYTES", 413)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UploadRejected(f"{label}: not a zip archive ({exc}); send a .zip of DICOM "
                             "files") from None
    summary = ZipSummary()
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise UploadRejected(f"{label}: {len(infos)} entries, over the limit of "
                                 f"{limits.max_members}", 413)
        unsafe = [f"{i.filename!r} {why}" for i in infos if (why := _unsafe(i.filename))]
        links = [i.filename for i in infos
                 if stat.S_ISLNK(i.external_attr >> 16) and i.create_system == 3]
        if unsafe or links:
            problems = unsafe + [f"{n!r} is a symbolic link" for n in links]
            raise UploadRejected(f"{label}: refused, member paths would leave the import "
                                 f"folder (zip slip): {'; '.join(problems[:_SHOWN])}")
        encrypted = [i.filename for i in infos if i.flag_bits & 0x1]
        if encrypted:
            raise UploadRejected(f"{label}: encrypted members cannot be imported: "
                                 f"{_names(encrypted)}")
        summary.unzipped_bytes = sum(i.file_size for i in infos)
        if summary.unzipped_bytes > limits.max_unzipped:
            raise UploadRejected(f"{label}: unpacks to {summary.unzipped_bytes} bytes, over "
                                 f"the limit of {limits.max_unzipped} bytes", 413)
        if kind == "bids":
            tops = [PurePosixPath(i.filename) for i in infos
                    if PurePosixPath(i.filename).name == "dataset_description.json"]
            if not any(len(t.parts) <= 2 for t in tops):
                raise UploadRejected(f"{label}: not a BIDS dataset: no dataset_description.json "
                                     "at its top or in its one top folder")
            return summary
        others: list[str] = []
        for info in infos:
            if info.is_dir():
                continue
            if _ignored(info.filename):
                summary.ignored.append(info.filename)
                continue
            try:
                with zf.open(info) as fp:
                    head = fp.read(132)
            except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError) as exc:
                raise UploadRejected(f"{label}: member {info.filename!r} cannot be read "
                                     f"({exc})") from None
            if is_dicom_start(head):
                summary.dicom += 1
            else:
                others.append(info.filename)
        if others:
            raise UploadRejected(
                f"{label}: {len(others)} of {len(others) + summary.dicom} files are not "
                f"DICOM: {_names(others)}; send a zip holding only DICOM files")
        if not summary.dicom:
            raise UploadRejected(f"{label}: holds no DICOM file")
    return summary


def check_nifti_upload(path: str | os.PathLike[str], limits: Limits | None = None, *,
                       label: str | None = None) -> tuple[int, ...]:
    """Check an uploaded NIfTI file (header only); its shape.

    Raises
    ------
    UploadRejected
        413 if over the upload limit; 400 if nibabel cannot read it as NIfTI or an
        image dimension is 0.
    """
    import nibabel as nib

    limits = limits or Limits.from_env()
    path = Path(path)
    label = label or path.name
    size = path.stat().st_size
    if size > limits.max_upload:
        raise UploadRejected(f"{label}: {size} bytes, over the upload limit of "
                             f"{limits.max_upload} bytes", 413)
    try:
        img: Any = nib.load(path)
        shape = tuple(int(d) for d in img.shape)
    except Exception as exc:  # noqa: BLE001 - any reader failure is the reason
        raise UploadRejected(f"{label}: not a NIfTI image nibabel can read "
                             f"({type(exc).__name__}: {exc})") from None
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)) or not shape or min(shape) < 1:
        raise UploadRejected(f"{label}: not a NIfTI image with voxels (shape {shape})")
    return shape


def _boundary(content_type: str) -> bytes:
    msg = Message()
    msg["content-type"] = content_type
    boundary = msg.get_param("boundary")
    if not isinstance(boundary, str) or not boundary or len(boundary) > 200:
        raise UploadRejected("multipart upload without a valid boundary in its Content-Type")
    return boundary.encode("latin-1")


def extract_multipart(body: str | os.PathLike[str], content_type: str,
                      dest: str | os.PathLike[str]) -> str:
    """Copy the first file part of a ``multipart/form-data`` body (on disk) to ``dest``.

    Returns
    -------
    str
        The part's file name as the client sent it.

    Raises
    ------
    UploadRejected
        If the body has no file part or is malformed.
    """
    delim = b"--" + _boundary(content_type)
    with open(body, "rb") as fp, mmap.mmap(fp.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        pos = mm.find(delim)
        while pos >= 0:
            start = pos + len(delim)
            if mm[start:start + 2] == b"--":
                break  # closing delimiter
            head_end = mm.find(b"\r\n\r\n", start)
            if head_end < 0:
                break
            headers = mm[start:head_end].decode("latin-1")
            nxt = mm.find(b"\r\n" + delim, head_end + 4)
            if nxt < 0:
                break
            disp = next((h for h in headers.split("\r\n")
                         if h.lower().startswith("content-disposition:")), "")
            m = re.search(r'filename="([^"]*)"', disp) or re.search(r"filename=([^;\s]+)", disp)
            if m:
                with open(dest, "wb") as out:
                    view = memoryview(mm)
                    try:
                        for off in range(head_end + 4, nxt, 1 << 22):
                            out.write(view[off:min(nxt, off + (1 << 22))])
                    finally:
                        view.release()
                return m.group(1)
            pos = nxt + 2
    raise UploadRejected("multipart upload without a file part; send the zip as "
                         "-F 'thefile=@exam.zip' or as the raw body (Content-Type: "
                         "application/zip)")

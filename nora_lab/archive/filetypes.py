"""What kind of file is this? Detected by content, never by the name alone.

:func:`filetype` answers one of :data:`FILETYPES` for any file the archive stores; the
archive keeps that answer in the ``files.filetype`` column, so that widgets and batches
can ask for "every NIfTI" or "every tractogram" without opening files.

How each type is recognised (first bytes, after gunzip where the format allows it):

========== ==================================================================
nifti      NIfTI-1 (``sizeof_hdr`` 348 and magic ``n+1``/``ni1``) or NIfTI-2
           (540, ``n+2``), either byte order, plain or ``.gz``; a ``.hdr`` of a
           ``.hdr/.img`` pair counts too. Confirmed by nibabel's header parser.
nrrd       ``NRRD000x`` magic; confirmed by pynrrd's ``read_header``.
mgh        FreeSurfer MGH (big-endian version 1, sane dims and type), plain or
           gzipped (``.mgz``); confirmed by nibabel's MGH header parser.
gifti      XML whose root element is ``<GIFTI`` (``.gii``, plain or ``.gz``).
tck        MRtrix tracks: ``mrtrix tracks`` magic.
trk        TrackVis: ``TRACK`` magic and ``hdr_size`` 1000.
stl        binary STL (80-byte header, ``84 + 50·n`` bytes) or ASCII ``solid … facet``.
dicom      DICOM Part 10 (``DICM`` at offset 128).
json       a JSON object or array (parsed in full up to 64 MiB).
other      anything else (including unreadable files).
========== ==================================================================

Examples
--------
>>> filetype("t1.nii.gz")            # doctest: +SKIP
'nifti'
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import zlib
from pathlib import Path

__all__ = ["FILETYPES", "filetype"]

#: Every value :func:`filetype` can return.
FILETYPES = ("nifti", "nrrd", "mgh", "gifti", "tck", "trk", "stl", "dicom", "json", "other")

_HEAD = 4096
_JSON_MAX = 64 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


def filetype(path: str | os.PathLike[str]) -> str:
    """Detect the type of the file at ``path`` from its content.

    Parameters
    ----------
    path
        A file on disk. Gzipped files are looked into (``.nii.gz``, ``.mgz``, ``.gii.gz``).

    Returns
    -------
    str
        One of :data:`FILETYPES`; ``"other"`` for unknown or unreadable content.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "meta.txt"
    >>> _ = p.write_text(json.dumps({"EchoTime": 0.03}))
    >>> filetype(p)
    'json'
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(_HEAD)
        size = path.stat().st_size
    except OSError:
        return "other"
    head, gzipped = raw, False
    if raw[:2] == _GZIP_MAGIC:
        head, gzipped = _gunzip_head(path), True
    for kind, test in _TESTS:
        if test(path, head, size, gzipped):
            return kind
    return "other"


def _gunzip_head(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read(_HEAD)
    except (OSError, EOFError, zlib.error):
        return b""


def _is_nifti(path: Path, head: bytes, size: int, gzipped: bool) -> bool:
    if len(head) < 348:
        return False
    for endian in "<>":
        (sizeof_hdr,) = struct.unpack(endian + "i", head[:4])
        if sizeof_hdr == 348 and head[344:348] in (b"n+1\0", b"ni1\0"):
            return _nibabel_header_ok("Nifti1Header", head, endian)
        if sizeof_hdr == 540 and len(head) >= 540 and head[4:12] in (b"n+2\0\r\n\x1a\n",
                                                                     b"ni2\0\r\n\x1a\n"):
            return _nibabel_header_ok("Nifti2Header", head, endian)
    return False


def _nibabel_header_ok(cls_name: str, head: bytes, endian: str) -> bool:
    import nibabel as nib

    cls = getattr(nib, cls_name)
    try:
        hdr = cls(head[: cls.template_dtype.itemsize], endianness=endian, check=False)
        hdr.get_data_shape()
        hdr.get_data_dtype()
    except Exception:  # noqa: BLE001 - any parse failure means "not this type"
        return False
    return True


def _is_nrrd(path: Path, head: bytes, size: int, gzipped: bool) -> bool:
    if gzipped or not head.startswith(b"NRRD000"):
        return False
    import nrrd

    try:
        with open(path, "rb") as fh:
            nrrd.read_header(fh)
    except Exception:  # noqa: BLE001 - pynrrd raises NRRDError, ValueError, ...
        return False
    return True


def _is_mgh(path: Path, head: bytes, size: int, gzipped: bool) -> bool:
    if len(head) < 284:
        return False
    version, w, h, d, frames, dtype, dof = struct.unpack(">7i", head[:28])
    if version != 1 or dtype not in (0, 1, 3, 4) or min(w, h, d, frames) < 1:
        return False
    nbytes = {0: 1, 1: 4, 3: 4, 4: 2}[dtype] * w * h * d * frames
    if not gzipped and size < 284 + nbytes:
        return False
    import nibabel as nib

    try:
        nib.freesurfer.mghformat.MGHHeader(head[:284], check=True).get_data_shape()
    except Exception:  # noqa: BLE001
        return False
    return True


def _is_gifti(path: Path, head: bytes, size: int, gzipped: bool) -> bool:
    # An XML prolog, comments or a DOCTYPE may precede the root element.
    return head.lstrip()[:1] == b"<" and b"<GIFTI" in head


def _is_tck(path: Path, head: bytes, size: int, gzipped: bool) -> bool:
    return not gzipped and head.startswith(b"mrtrix tracks")


def _is_trk(path: Path, head: bytes, size: int, gzipped: bool) -> bool:
    if gzipped or len(head) < 1000 or not head.startswith(b"TRACK\0"):
        return False
    return 1000 in (struct.unpack("<i", head[996:1000])[0], struct.unpack(">i", head[996:1000])[0])


def _is_stl(path: Path, head: bytes, size: int, gzipped: bool) -> bool:
    if gzipped:
        return False
    if len(head) >= 84:
        (n,) = struct.unpack("<I", head[80:84])
        if n > 0 and size == 84 + 50 * n:
            return True
    text = head.lstrip()
    return text[:5].lower() == b"solid" and b"facet" in head


def _is_dicom(path: Path, head: bytes, size: int, gzipped: bool) -> bool:
    return not gzipped and len(head) >= 132 and head[128:132] == b"DICM"


def _is_json(path: Path, head: bytes, size: int, gzipped: bool) -> bool:
    text = head.lstrip()
    if gzipped or text[:1] not in (b"{", b"[") or size > _JSON_MAX:
        return False
    try:
        with open(path, "rb") as fh:
            json.load(fh)
    except (ValueError, UnicodeDecodeError, OSError):
        return False
    return True


_TESTS = (
    ("nifti", _is_nifti),
    ("nrrd", _is_nrrd),
    ("mgh", _is_mgh),
    ("dicom", _is_dicom),
    ("tck", _is_tck),
    ("trk", _is_trk),
    ("gifti", _is_gifti),
    ("stl", _is_stl),
    ("json", _is_json),
)

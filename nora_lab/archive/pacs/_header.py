"""Read the few UIDs a receiver needs from an encoded dataset, without decoding it.

:func:`study_series_uids` walks the elements of the encoded dataset
(:func:`nora_lab.archive.dicom._elements.walk`) and stops at (0020,000E); anything it
does not expect (big endian, deflate, odd lengths) goes through pydicom's reader
instead. Either way the pixel data is never read.
"""

from __future__ import annotations

import struct
import zlib
from io import BytesIO
from typing import Any

from pydicom.filereader import read_dataset
from pydicom.uid import UID

from nora_lab.archive.dicom._elements import Odd, walk

__all__ = ["study_series_uids", "HeaderError"]

_STUDY, _SERIES = 0x0020000D, 0x0020000E
_DEFLATED = "1.2.840.10008.1.2.1.99"
_IMPLICIT = "1.2.840.10008.1.2"
_BIG = "1.2.840.10008.1.2.2"


class HeaderError(ValueError):
    """The dataset cannot be parsed far enough to file it."""


def _text(value: bytes) -> str:
    return value.decode("ascii", "replace").strip("\0 ")


def study_series_uids(stream: Any, transfer_syntax: str) -> tuple[str, str]:
    """``(StudyInstanceUID, SeriesInstanceUID)`` of an encoded dataset (no file meta).

    ``stream``: the dataset's bytes (``bytes``/``bytearray``/``memoryview``) or a binary
    file object.

    Raises
    ------
    HeaderError
        If the data is not a dataset in ``transfer_syntax`` or lacks either UID.
    """
    ts = str(transfer_syntax)
    data = stream.getbuffer() if hasattr(stream, "getbuffer") else stream
    if ts not in (_DEFLATED, _BIG):
        try:
            found, _ = walk(data, 0, ts == _IMPLICIT, (_STUDY, _SERIES), stop_after=_SERIES)
            study, series = _text(found.get(_STUDY, b"")), _text(found.get(_SERIES, b""))
            if study and series:
                return study, series
        except (Odd, struct.error):
            pass
    return _slow(bytes(data), ts)


def _slow(data: bytes, transfer_syntax: str) -> tuple[str, str]:
    ts = UID(transfer_syntax)
    try:
        if ts == _DEFLATED:
            data = zlib.decompress(data, -zlib.MAX_WBITS)
        ds = read_dataset(BytesIO(data), ts.is_implicit_VR, ts.is_little_endian,
                          stop_when=lambda tag, vr, length: tag > _SERIES,
                          specific_tags=[_STUDY, _SERIES])
        study = str(ds[_STUDY].value or "").strip("\0 ") if _STUDY in ds else ""
        series = str(ds[_SERIES].value or "").strip("\0 ") if _SERIES in ds else ""
    except Exception as exc:  # noqa: BLE001 - any parse failure is the same outcome
        raise HeaderError(f"not a DICOM dataset we can file: unreadable in {ts.name} "
                          f"({type(exc).__name__}: {exc})") from None
    if not study or not series:
        raise HeaderError("not a DICOM dataset we can file: it has no "
                          + ("StudyInstanceUID" if not study else "SeriesInstanceUID"))
    return study, series

"""Read the few UIDs a receiver needs from an encoded dataset, without decoding it.

:func:`study_series_uids` walks the elements of the encoded dataset with ``struct`` —
skipping values, stepping through sequences of defined or undefined length — and stops
at (0020,000E); anything it does not expect (big endian, deflate, odd lengths) goes
through pydicom's reader instead. Either way the pixel data is never read.
"""

from __future__ import annotations

import struct
import zlib
from io import BytesIO
from typing import Any

from pydicom.filereader import read_dataset
from pydicom.uid import UID

__all__ = ["study_series_uids", "HeaderError"]

_STUDY, _SERIES = 0x0020000D, 0x0020000E
_DEFLATED = "1.2.840.10008.1.2.1.99"
_IMPLICIT = "1.2.840.10008.1.2"
_BIG = "1.2.840.10008.1.2.2"
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
             b"UT", b"UV"}
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_unpack_tag = struct.Struct("<HH").unpack_from
_unpack_u16 = struct.Struct("<H").unpack_from
_unpack_u32 = struct.Struct("<L").unpack_from


class HeaderError(ValueError):
    """The dataset cannot be parsed far enough to file it."""


class _Odd(Exception):
    """Something the fast walker leaves to pydicom."""


def _skip_undefined(data: Any, pos: int, implicit: bool) -> int:
    """Skip the items of an undefined-length sequence starting at ``pos``; the position
    after its delimiter."""
    end = len(data)
    while pos + 8 <= end:
        g, e = _unpack_tag(data, pos)
        tag = g << 16 | e
        length = _unpack_u32(data, pos + 4)[0]
        pos += 8
        if tag == _SEQ_END:
            return pos
        if tag != _ITEM:
            raise _Odd("unexpected element in a sequence")
        if length == _UNDEFINED:
            pos = _walk(data, pos, implicit, stop=None, nested=True)[1]
        else:
            pos += length
    raise _Odd("sequence runs past the end")


def _walk(data: Any, pos: int, implicit: bool, stop: int | None, nested: bool = False
          ) -> tuple[dict[int, bytes], int]:
    """Walk elements from ``pos``; the values of the study/series UIDs seen (top level)."""
    found: dict[int, bytes] = {}
    end = len(data)
    while pos + 8 <= end:
        g, e = _unpack_tag(data, pos)
        tag = g << 16 | e
        if nested and tag == _ITEM_END:
            return found, pos + 8
        if stop is not None and tag > stop:
            return found, pos
        if implicit:
            length = _unpack_u32(data, pos + 4)[0]
            pos += 8
        else:
            vr = bytes(data[pos + 4:pos + 6])
            if vr in _LONG_VRS:
                length = _unpack_u32(data, pos + 8)[0]
                pos += 12
            elif vr.isalpha() and vr.isupper():
                length = _unpack_u16(data, pos + 6)[0]
                pos += 8
            else:
                raise _Odd(f"bad VR {vr!r}")
        if length == _UNDEFINED:
            if tag == 0x7FE00010:
                raise _Odd("encapsulated pixel data before the UIDs")
            pos = _skip_undefined(data, pos, implicit)
            continue
        if tag in (_STUDY, _SERIES):
            found[tag] = bytes(data[pos:pos + length])
        pos += length
        if pos > end:
            raise _Odd("element runs past the end")
    if nested:
        raise _Odd("item runs past the end")
    return found, pos


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
            found, _ = _walk(memoryview(data), 0, ts == _IMPLICIT, _SERIES)
            study, series = _text(found.get(_STUDY, b"")), _text(found.get(_SERIES, b""))
            if study and series:
                return study, series
        except (_Odd, struct.error):
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

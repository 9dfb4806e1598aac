"""Walk encoded DICOM data elements with ``struct``, without decoding the dataset.

The index needs two dozen short values from each file's header; pydicom's reader builds
a dataset of every element on the way (about 1 ms a file). :func:`walk` steps over the
encoded elements instead — skipping values by their length, stepping through sequences
of defined or undefined length — and keeps the raw bytes of the few tags asked for
(top level only). It handles little-endian data, explicit or implicit VR. Anything it
does not expect (a bad VR, an undefined-length UN) raises :class:`Odd`, data that ends
inside an element :class:`Short`: the caller then reads more, or reads the data with
pydicom, which either parses it or says precisely what is wrong. The walker never
decides that a file is broken.

Used by the DICOM scan (:mod:`._instance`) and the DICOM node (``pacs._header``).
"""

from __future__ import annotations

import struct
from collections.abc import Container
from typing import Any

__all__ = ["Odd", "Short", "walk", "LONG_VRS", "SHORT_VRS", "UNDEFINED", "PIXEL_TAGS"]

#: explicit-VR value representations with a 4-byte length
LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC",
                      b"UN", b"UR", b"UT", b"UV"})
#: explicit-VR value representations with a 2-byte length
SHORT_VRS = frozenset({b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD",
                       b"IS", b"LO", b"LT", b"PN", b"SH", b"SL", b"SS", b"ST", b"TM",
                       b"UI", b"UL", b"US"})
UNDEFINED = 0xFFFFFFFF
#: the tags pydicom's ``stop_before_pixels`` stops at
PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_unpack_tag = struct.Struct("<HH").unpack_from
_unpack_head = struct.Struct("<HH2sH").unpack_from
_unpack_u16 = struct.Struct("<H").unpack_from
_unpack_u32 = struct.Struct("<L").unpack_from


class Odd(Exception):
    """Something the walker leaves to pydicom."""


class Short(Odd):
    """The data ends inside an element: more of the file may be needed."""


def walk(data: Any, pos: int, implicit: bool, wanted: Container[int], *,
         stop_after: int = 0xFFFFFFFF, stop_at: Container[int] = (),
         found: dict[int, bytes] | None = None) -> tuple[dict[int, bytes], int]:
    """Walk top-level elements from ``pos``; the raw values of the ``wanted`` tags.

    Parameters
    ----------
    data
        The encoded bytes (``bytes``, ``bytearray`` or ``memoryview``).
    pos
        Offset of the first element.
    implicit
        Implicit VR (else explicit); little endian either way.
    wanted
        Tags whose raw values to return (sequences among them are skipped, not kept).
    stop_after, stop_at
        Stop before the first element whose tag is greater than ``stop_after`` or is in
        ``stop_at``; the returned position is that element's start.
    found
        A dict to fill (and return) instead of a new one.

    Returns
    -------
    (found, pos)
        ``pos`` is where the walk stopped: the end of the data, or the stopping element.

    Raises
    ------
    Odd
        If the data does not parse as expected.
    Short
        If an element runs past the end of the data.
    """
    found = {} if found is None else found
    pos = _walk(memoryview(data), pos, implicit, wanted, stop_after, stop_at, found,
                nested=False)
    return found, pos


def _walk(data: memoryview, pos: int, implicit: bool, wanted: Container[int],
          stop_after: int, stop_at: Container[int], found: dict[int, bytes],
          nested: bool) -> int:
    end = len(data)
    while pos + 8 <= end:
        g, e, vr, length = _unpack_head(data, pos)
        tag = g << 16 | e
        if nested and tag == _ITEM_END:
            return pos + 8
        if tag > stop_after or tag in stop_at:
            return pos
        if implicit:
            length = _unpack_u32(data, pos + 4)[0]
            pos += 8
        elif vr in LONG_VRS:
            if pos + 12 > end:
                raise Short("element header runs past the end")
            length = _unpack_u32(data, pos + 8)[0]
            pos += 12
            if length == UNDEFINED and vr == b"UN":
                raise Odd("undefined-length UN (implicit VR inside)")
        elif vr in SHORT_VRS:
            pos += 8
        else:
            raise Odd(f"bad VR {vr!r} at ({g:04X},{e:04X})")
        if length == UNDEFINED:
            pos = _skip_items(data, pos, implicit)
            continue
        if tag in wanted and not nested:
            found[tag] = bytes(data[pos:pos + length])
        pos += length
        if pos > end:
            raise Short(f"element ({g:04X},{e:04X}) runs past the end")
    if nested:
        raise Short("item runs past the end")
    if pos != end:
        raise Short("element header runs past the end")
    return pos


def _skip_items(data: memoryview, pos: int, implicit: bool) -> int:
    """Skip the items of an undefined-length value at ``pos``; the position after its
    sequence delimiter."""
    end = len(data)
    while pos + 8 <= end:
        g, e = _unpack_tag(data, pos)
        tag = g << 16 | e
        length = _unpack_u32(data, pos + 4)[0]
        pos += 8
        if tag == _SEQ_END:
            return pos
        if tag != _ITEM:
            raise Odd(f"unexpected element ({g:04X},{e:04X}) in a sequence")
        if length == UNDEFINED:
            pos = _walk(data, pos, implicit, (), 0xFFFFFFFF, (), {}, nested=True)
        else:
            pos += length
    raise Short("sequence runs past the end")

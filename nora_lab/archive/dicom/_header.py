"""The indexed header fields, decoded from raw element values, and the pixel data check.

Two sources give the same values: :class:`RawFields` over the raw bytes the element
walker (:mod:`._elements`) collected, and :class:`Fields` over a dataset pydicom parsed
(keeping only :data:`WANTED` elements). Both decode the few values the index needs
straight from raw bytes: converting them through pydicom's value machinery costs more
than parsing them. :func:`pixel_problem` checks the pixel data element without loading it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement

from nora_lab.archive.dicom._elements import LONG_VRS, PIXEL_TAGS, UNDEFINED

__all__ = ["WANTED", "Fields", "RawFields", "codec_for", "header_str",
           "first_frame_geometry", "pixel_problem", "expected_pixel_bytes"]


def header_str(ds: Any, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    return str(value).strip().replace("\x00", "")


def _floats(ds: Any, keyword: str, n: int) -> tuple[float, ...] | None:
    value = ds.get(keyword)
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return out if len(out) == n else None


#: the elements the index reads (pydicom keeps only these: ~25% faster on big headers)
_KEYWORDS = (
    "SOPInstanceUID", "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID", "PatientID",
    "PatientName", "PatientBirthDate", "PatientSex", "StudyID", "AccessionNumber",
    "StudyDate", "StudyTime", "StudyDescription", "SeriesNumber", "SeriesDescription",
    "ProtocolName", "Modality", "Manufacturer", "InstanceNumber", "AcquisitionNumber",
    "ImageType", "ImagePositionPatient", "ImageOrientationPatient", "Rows", "Columns",
    "NumberOfFrames", "GantryDetectorTilt", "EchoNumbers", "BitsAllocated",
    "SamplesPerPixel", "PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence",
    "SpecificCharacterSet",
    # what dcm2niix stacks by (see ._dcm2niix_grouping)
    "SeriesTime", "SoftwareVersions", "SequenceName", "RepetitionTime", "EchoTime",
    "FlipAngle",
)
_TAGS: dict[str, int] = {k: int(tag_for_keyword(k) or 0) for k in _KEYWORDS}
WANTED = list(_TAGS.values())
WANTED_SET = frozenset(WANTED)
_CODECS = {"": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1",
           "ISO_IR 192": "utf-8"}
_US = frozenset({"Rows", "Columns", "BitsAllocated", "SamplesPerPixel"})


def codec_for(charset: str) -> str | None:
    """The Python codec of a SpecificCharacterSet value nora_lab decodes itself (None:
    leave it to pydicom)."""
    return _CODECS.get(charset.strip().strip("\\").upper())


class _Values:
    """``s``/``i``/``f`` accessors over ``s`` and ``us`` of a subclass."""

    __slots__ = ()

    def s(self, keyword: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def us(self, keyword: str) -> int | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def i(self, keyword: str) -> int | None:
        """An integer value (US, IS; the first of several)."""
        if keyword in _US:
            return self.us(keyword)
        text = self.s(keyword).split("\\")[0].strip()
        try:
            return int(float(text)) if text else None
        except ValueError:
            return None

    def f(self, keyword: str, n: int) -> tuple[float, ...] | None:
        """``n`` decimal values, or None."""
        text = self.s(keyword)
        try:
            out = tuple(float(v) for v in text.split("\\")) if text else ()
        except ValueError:
            return None
        return out if len(out) == n else None


class RawFields(_Values):
    """Header values from raw little-endian element bytes (``{tag: bytes}``)."""

    __slots__ = ("found", "codec")

    def __init__(self, found: dict[int, bytes], codec: str):
        self.found, self.codec = found, codec

    def s(self, keyword: str) -> str:
        """A string value (multi-values joined by backslashes)."""
        value = self.found.get(_TAGS[keyword])
        return value.decode(self.codec, "replace").strip(" \x00") if value else ""

    def us(self, keyword: str) -> int | None:
        value = self.found.get(_TAGS[keyword])
        return struct.unpack_from("<H", value)[0] if value and len(value) >= 2 else None


class Fields(_Values):
    """Header values read from pydicom's raw elements (``Dataset.get_item``), falling
    back to pydicom's conversion for character sets other than ASCII, Latin-1 and UTF-8."""

    __slots__ = ("ds", "codec")

    def __init__(self, ds: Any):
        self.ds = ds
        cs = ds.get_item(0x00080005)
        value = "" if cs is None else cs.value
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        if not isinstance(value, str):
            value = "\\".join(str(v) for v in value) if value else ""
        self.codec = codec_for(value)

    def raw(self, keyword: str) -> Any:
        tag = _TAGS.get(keyword)
        if tag is None:
            tag = _TAGS[keyword] = int(tag_for_keyword(keyword) or 0)
        return self.ds.get_item(tag)

    def s(self, keyword: str) -> str:
        """A string value (multi-values joined by backslashes)."""
        elem = self.raw(keyword)
        if elem is None:
            return ""
        if isinstance(elem, RawDataElement) and self.codec and isinstance(elem.value, bytes):
            return elem.value.decode(self.codec, "replace").strip(" \x00")
        value = self.ds[elem.tag].value
        if value is None:
            return ""
        if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
            return "\\".join(str(v) for v in value).strip()
        return str(value).strip().replace("\x00", "")

    def us(self, keyword: str) -> int | None:
        elem = self.raw(keyword)
        if isinstance(elem, RawDataElement) and elem.value and len(elem.value) >= 2:
            return struct.unpack("<H" if elem.is_little_endian else ">H", elem.value[:2])[0]
        if elem is None:
            return None
        try:
            return int(self.ds[elem.tag].value)
        except (TypeError, ValueError):
            return None


def first_frame_geometry(ds: Any) -> tuple[Any, Any]:
    """Position/orientation of an enhanced multi-frame object's first frame."""
    pos = ori = None
    for seq_kw in ("PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence"):
        seq = ds.get(seq_kw)
        if not seq:
            continue
        item = seq[0]
        if pos is None and item.get("PlanePositionSequence"):
            pos = _floats(item.PlanePositionSequence[0], "ImagePositionPatient", 3)
        if ori is None and item.get("PlaneOrientationSequence"):
            ori = _floats(item.PlaneOrientationSequence[0], "ImageOrientationPatient", 6)
    return pos, ori


def pixel_problem(head: bytes, pos: int, implicit: bool, little: bool, size: int,
                  expected: int, tail: Callable[[int], bytes]) -> str | None:
    """None if the pixel data element is present and complete, else the reason.

    ``head``: the (up to) 12 bytes at offset ``pos``, where pydicom's
    ``stop_before_pixels`` stopped; ``expected``: the pixel bytes the header announces
    (0: unknown); ``tail(offset)``: the file's bytes from ``offset`` to its end.
    """
    endian = "<" if little else ">"
    if len(head) < 8:
        return "no pixel data (not an image: e.g. a report, presentation state or DICOMDIR)"
    group, elem = struct.unpack(endian + "HH", head[:4])
    if (group << 16 | elem) not in PIXEL_TAGS:
        return "no pixel data (not an image: e.g. a report, presentation state or DICOMDIR)"
    if implicit:
        (length,) = struct.unpack(endian + "I", head[4:8])
        value_at = pos + 8
    else:
        vr = head[4:6]
        if vr in LONG_VRS:
            if len(head) < 12:
                return f"truncated: the file ends inside the pixel data header ({size} bytes)"
            (length,) = struct.unpack(endian + "I", head[8:12])
            value_at = pos + 12
        else:
            (length,) = struct.unpack(endian + "H", head[6:8])
            value_at = pos + 8
    if length == UNDEFINED:  # encapsulated (compressed) frames end with a delimiter
        if struct.pack(endian + "HH", 0xFFFE, 0xE0DD) not in tail(max(value_at, size - 256)):
            return ("truncated: compressed pixel data has no sequence delimiter "
                    f"(file is {size} bytes; was the transfer interrupted?)")
        return None
    if value_at + length > size:
        return (f"truncated: pixel data needs {length} bytes from offset {value_at}, "
                f"the file has {size - value_at}")
    if expected and length < expected:
        return f"pixel data too short: {length} bytes for {expected} expected from the header"
    return None


def expected_pixel_bytes(h: Fields | RawFields) -> int:
    """The pixel data length the header announces (0 if it does not say)."""
    bits, rows, cols = h.i("BitsAllocated"), h.i("Rows"), h.i("Columns")
    if not (bits and rows and cols):
        return 0
    n = rows * cols * (h.i("SamplesPerPixel") or 1) * (h.i("NumberOfFrames") or 1)
    return (n * bits + 7) // 8

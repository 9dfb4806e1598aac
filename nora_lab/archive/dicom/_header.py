"""Reading the indexed header fields fast, and checking the pixel data without loading it.

pydicom parses (keeping only :data:`WANTED` elements); :class:`Fields` then decodes the
few values the index needs straight from pydicom's raw elements (``Dataset.get_item``):
converting them through pydicom's value machinery costs more than parsing them.
"""

from __future__ import annotations

import struct
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement

__all__ = ["WANTED", "Fields", "header_str", "first_frame_geometry", "pixel_problem"]

_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)


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
)
_TAGS: dict[str, int] = {k: tag_for_keyword(k) for k in _KEYWORDS}
WANTED = list(_TAGS.values())
_CODECS = {"": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1",
           "ISO_IR 192": "utf-8"}
_US = frozenset({"Rows", "Columns", "BitsAllocated", "SamplesPerPixel"})


class Fields:
    """Header values read from pydicom's raw elements (``Dataset.get_item``).

    Converting a raw element through pydicom's value machinery costs more than parsing
    it; the few fields the index needs are decoded here directly, falling back to
    pydicom's conversion for character sets other than ASCII, Latin-1 and UTF-8.
    """

    __slots__ = ("ds", "codec")

    def __init__(self, ds: Any):
        self.ds = ds
        cs = ds.get_item(0x00080005)
        value = "" if cs is None else cs.value
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        if not isinstance(value, str):
            value = "\\".join(str(v) for v in value) if value else ""
        self.codec = _CODECS.get(value.strip().strip("\\").upper())

    def raw(self, keyword: str) -> Any:
        tag = _TAGS.get(keyword)
        if tag is None:
            tag = _TAGS[keyword] = tag_for_keyword(keyword)
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

    def i(self, keyword: str) -> int | None:
        if keyword in _US:
            elem = self.raw(keyword)
            if isinstance(elem, RawDataElement) and elem.value and len(elem.value) >= 2:
                return struct.unpack("<H" if elem.is_little_endian else ">H", elem.value[:2])[0]
            if elem is None:
                return None
            try:
                return int(self.ds[elem.tag].value)
            except (TypeError, ValueError):
                return None
        text = self.s(keyword).split("\\")[0].strip()
        try:
            return int(float(text)) if text else None
        except ValueError:
            return None

    def f(self, keyword: str, n: int) -> tuple[float, ...] | None:
        text = self.s(keyword)
        try:
            out = tuple(float(v) for v in text.split("\\")) if text else ()
        except ValueError:
            return None
        return out if len(out) == n else None


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


def pixel_problem(fp: Any, ds: Any, size: int) -> str | None:
    """None if the pixel data element is present and complete, else the reason."""
    pos = fp.tell()
    head = fp.read(12)
    implicit, little = ds.original_encoding
    if implicit is None:  # pragma: no cover - pydicom always sets it after a read
        implicit, little = False, True
    endian = "<" if little else ">"
    if len(head) < 8:
        return "no pixel data (not an image: e.g. a report, presentation state or DICOMDIR)"
    group, elem = struct.unpack(endian + "HH", head[:4])
    if (group << 16 | elem) not in _PIXEL_TAGS:
        return "no pixel data (not an image: e.g. a report, presentation state or DICOMDIR)"
    if implicit:
        (length,) = struct.unpack(endian + "I", head[4:8])
        value_at = pos + 8
    else:
        vr = head[4:6]
        if vr in (b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN", b"UT", b"SQ", b"UC", b"UR"):
            if len(head) < 12:
                return f"truncated: the file ends inside the pixel data header ({size} bytes)"
            (length,) = struct.unpack(endian + "I", head[8:12])
            value_at = pos + 12
        else:
            (length,) = struct.unpack(endian + "H", head[6:8])
            value_at = pos + 8
    if length == 0xFFFFFFFF:  # encapsulated (compressed) frames end with a delimiter
        fp.seek(max(value_at, size - 256))
        tail = fp.read()
        if struct.pack(endian + "HH", 0xFFFE, 0xE0DD) not in tail:
            return ("truncated: compressed pixel data has no sequence delimiter "
                    f"(file is {size} bytes; was the transfer interrupted?)")
        return None
    if value_at + length > size:
        return (f"truncated: pixel data needs {length} bytes from offset {value_at}, "
                f"the file has {size - value_at}")
    expected = _expected_pixel_bytes(ds)
    if expected and length < expected:
        return f"pixel data too short: {length} bytes for {expected} expected from the header"
    return None


def _expected_pixel_bytes(ds: Any) -> int:
    h = Fields(ds)
    bits, rows, cols = h.i("BitsAllocated"), h.i("Rows"), h.i("Columns")
    if not (bits and rows and cols):
        return 0
    n = rows * cols * (h.i("SamplesPerPixel") or 1) * (h.i("NumberOfFrames") or 1)
    return (n * bits + 7) // 8

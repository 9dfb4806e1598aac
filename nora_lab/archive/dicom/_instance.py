"""One file's header → an :class:`Instance`, or a :class:`Skipped` saying why not.

Two readers give the same result:

* **the element walker** (:mod:`._elements`, about 15× faster than pydicom): for Part 10
  files in a little-endian transfer syntax with a character set nora_lab decodes itself —
  nearly every file a scanner or PACS writes. It reads the first 64 KiB (more only for
  bigger headers), collects the indexed elements, and checks the pixel data element
  without reading it;
* **pydicom** (``dcmread(stop_before_pixels=True, specific_tags=WANTED)``) for everything
  else: files without a preamble, big-endian or deflated data, other character sets,
  enhanced multi-frame objects whose geometry is only in their functional groups, and
  every file the walker finds odd — so that a broken file is always judged, and its
  problem worded, by pydicom.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Any

from nora_lab.archive.dicom._elements import LONG_VRS, PIXEL_TAGS, SHORT_VRS, Odd, Short, walk
from nora_lab.archive.dicom._header import (
    WANTED,
    WANTED_SET,
    Fields,
    RawFields,
    codec_for,
    expected_pixel_bytes,
    first_frame_geometry,
    header_str,
    pixel_problem,
)

__all__ = ["Instance", "Skipped", "read_instance"]

_NO_PREAMBLE_GROUPS = (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08")
_DICOMDIR = "1.2.840.10008.1.3.10"
_IMPLICIT = "1.2.840.10008.1.2"
_NOT_WALKED = ("1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99")  # big endian, deflated
_META = (0x00020002, 0x00020010)
#: the last element the index reads for a single-frame image (BitsAllocated)
_LAST_INDEXED = 0x00280100
_FIRST_READ = 1 << 16
_MAX_READ = 1 << 24

@dataclass(frozen=True, slots=True)
class Instance:
    """The indexed header fields of one DICOM file (no pixels)."""

    path: str
    source: str
    sop_uid: str
    study_uid: str
    series_uid: str
    sop_class: str = ""
    transfer_syntax: str = ""
    patient_id: str = ""
    patient_name: str = ""
    birth_date: str = ""
    sex: str = ""
    study_id: str = ""
    accession: str = ""
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    series_number: int | None = None
    series_description: str = ""
    protocol_name: str = ""
    modality: str = ""
    manufacturer: str = ""
    instance_number: int | None = None
    acquisition_number: int | None = None
    image_type: tuple[str, ...] = ()
    position: tuple[float, float, float] | None = None
    orientation: tuple[float, ...] | None = None
    rows: int = 0
    columns: int = 0
    frames: int = 1
    gantry_tilt: float = 0.0
    echo_number: int | None = None
    # what dcm2niix also stacks by (:mod:`._dcm2niix_grouping`), as written in the header
    series_time: str = ""
    software_versions: str = ""
    sequence_name: str = ""
    repetition_time: str = ""
    echo_time: str = ""
    flip_angle: str = ""
    size: int = 0
    # where native pixel data that ends the file starts (-1: unknown); how it was read, not
    # what the file holds, so it takes no part in comparisons
    pixels_at: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file that was not imported, and why."""

    path: str
    reason: str


def read_instance(path: str, source: str | None = None) -> Instance | Skipped:
    """Read one file's header; an :class:`Instance`, or a :class:`Skipped` saying why not.

    Parameters
    ----------
    path
        The file to read.
    source
        The path to report (e.g. ``archive.zip:member``); default ``path``.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            fast = _walked(fd, size)
        finally:
            os.close(fd)
    except OSError as exc:
        return Skipped(path, f"unreadable: {exc.strerror or exc}")
    if fast is not None:
        h, ts, sop_class_meta, problem, pixels_at = fast
        frames = h.i("NumberOfFrames") or 1
        if frames <= 1 or (h.f("ImagePositionPatient", 3) and h.f("ImageOrientationPatient", 6)):
            return _instance(path, source, size, h, ts, sop_class_meta, problem, None,
                             pixels_at)
    return _read_pydicom(path, source)


def _walked(fd: int, size: int) -> tuple[RawFields, str, str, str | None, int] | None:
    """The walker's reading of an open file, or None to leave it to pydicom."""
    chunk = _FIRST_READ
    while True:
        try:
            return _walk_file(fd, size, chunk)
        except Short:
            if chunk >= min(size, _MAX_READ):
                return None
            chunk *= 8
        except Odd:
            return None


def _walk_file(fd: int, size: int, chunk: int
               ) -> tuple[RawFields, str, str, str | None, int] | None:
    data = os.pread(fd, chunk, 0)
    if len(data) < 132 or data[128:132] != b"DICM":
        return None
    short = len(data) < size  # Short means "read more" only when there is more
    meta, pos = walk(data, 132, False, _META, stop_after=0x0002FFFF)
    ts = meta.get(0x00020010, b"").decode("ascii", "replace").strip(" \x00")
    if pos + 8 > len(data):
        raise Short("file meta") if short else Odd("no dataset")
    if not ts or ts in _NOT_WALKED:
        return None
    implicit = ts == _IMPLICIT
    if implicit and bytes(data[pos + 4:pos + 6]) in LONG_VRS | SHORT_VRS:
        return None  # explicit data labelled implicit: pydicom copes
    found, pos = walk(data, pos, implicit, WANTED_SET, stop_after=_LAST_INDEXED,
                      stop_at=PIXEL_TAGS)
    if short and pos + 12 > len(data):  # stopped by the end of what was read
        raise Short("indexed elements")
    charset = found.get(0x00080005, b"").decode("ascii", "replace").replace("\x00", "")
    codec = codec_for(charset)
    if codec is None:
        return None
    h = RawFields(found, codec)
    expected = expected_pixel_bytes(h)
    sop_class_meta = meta.get(0x00020002, b"").decode("ascii", "replace").strip(" \x00")
    if (h.i("NumberOfFrames") or 1) <= 1:
        at = _pixels_at_the_end(fd, size, expected, implicit)
        if at >= 0:
            return h, ts, sop_class_meta, None, at
    # the long way: every element up to the pixel data
    _, pos = walk(data, pos, implicit, WANTED_SET, stop_at=PIXEL_TAGS, found=found)
    if short and pos + 12 > len(data):
        raise Short("pixel data header")
    problem = pixel_problem(bytes(data[pos:pos + 12]), pos, implicit, True, size,
                            expected, lambda offset: os.pread(fd, size - offset, offset))
    return h, ts, sop_class_meta, problem, -1


def _pixels_at_the_end(fd: int, size: int, expected: int, implicit: bool) -> int:
    """Where the pixel values start when the file ends with a native (7FE0,0010) element
    of the expected length, else -1.

    Most files do; they need no walk through the private groups between the indexed
    elements and the pixel data (half a Siemens or GE header).
    """
    if not expected:
        return -1
    for length in {expected, expected + (expected & 1)}:
        head = 8 if implicit else 12
        at = size - length - head
        if at < 132:
            continue
        got = os.pread(fd, head, at)
        if implicit:
            ok = got == struct.pack("<HHL", 0x7FE0, 0x0010, length)
        else:
            ok = (got[:4] == b"\xe0\x7f\x10\x00" and got[4:6] in (b"OW", b"OB")
                  and got[6:8] == b"\x00\x00" and got[8:] == struct.pack("<L", length))
        if ok:
            return at + head
    return -1


def _read_pydicom(path: str, source: str | None) -> Instance | Skipped:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fp:
            try:
                ds = pydicom.dcmread(fp, stop_before_pixels=True, specific_tags=WANTED)
            except InvalidDicomError:
                fp.seek(0)
                if size < 132:
                    return Skipped(path, "not a DICOM file (too short)")
                # DICOM without the Part 10 preamble starts with group 0002 or 0008 (as
                # dcm2niix assumes); anything else is not parsed at all (a big NIfTI or
                # zip would make pydicom read garbage lengths)
                if fp.read(2) not in _NO_PREAMBLE_GROUPS:
                    return Skipped(path, "not a DICOM file (no 'DICM' preamble)")
                fp.seek(0)
                try:
                    ds = pydicom.dcmread(fp, stop_before_pixels=True, force=True,
                                         specific_tags=WANTED)
                except Exception:  # noqa: BLE001
                    return Skipped(path, "not a DICOM file (no 'DICM' preamble)")
                if "SOPInstanceUID" not in ds or "SeriesInstanceUID" not in ds:
                    return Skipped(path, "not a DICOM file (no 'DICM' preamble)")
            implicit, little = ds.original_encoding
            if implicit is None:  # pragma: no cover - pydicom always sets it after a read
                implicit, little = False, True
            pos = fp.tell()

            def tail(offset: int) -> bytes:
                fp.seek(offset)
                return fp.read()

            h = Fields(ds)
            problem = pixel_problem(fp.read(12), pos, bool(implicit), bool(little), size,
                                    expected_pixel_bytes(h), tail)
    except Exception as exc:  # noqa: BLE001 - any parser failure is a reason to report
        return Skipped(path, f"corrupt DICOM: {type(exc).__name__}: {exc}")
    meta = ds.get("file_meta")
    ts = header_str(meta, "TransferSyntaxUID") if meta is not None else ""
    sop_class_meta = header_str(meta, "MediaStorageSOPClassUID") if meta is not None else ""
    return _instance(path, source, size, h, ts, sop_class_meta, problem, ds)


def _instance(path: str, source: str | None, size: int, h: Fields | RawFields, ts: str,
              sop_class_meta: str, problem: str | None, ds: Any,
              pixels_at: int = -1) -> Instance | Skipped:
    """The :class:`Instance` of a read header (``ds``: pydicom's dataset, if it read it)."""
    if sop_class_meta == _DICOMDIR:
        return Skipped(path, "DICOMDIR (an index of other files, no image)")
    missing = [k for k in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
               if not h.s(k)]
    if missing:
        return Skipped(path, f"missing {', '.join(missing)}: cannot file this instance")
    if problem:
        return Skipped(path, problem)
    pos = h.f("ImagePositionPatient", 3)
    ori = h.f("ImageOrientationPatient", 6)
    frames = h.i("NumberOfFrames") or 1
    if frames > 1 and (pos is None or ori is None) and ds is not None:
        pos2, ori2 = first_frame_geometry(ds)
        pos, ori = pos or pos2, ori or ori2
    tilt_values = h.f("GantryDetectorTilt", 1)
    return Instance(
        path=path,
        source=source or path,
        sop_uid=h.s("SOPInstanceUID"),
        study_uid=h.s("StudyInstanceUID"),
        series_uid=h.s("SeriesInstanceUID"),
        sop_class=h.s("SOPClassUID"),
        transfer_syntax=ts,
        patient_id=h.s("PatientID"),
        patient_name=h.s("PatientName"),
        birth_date=h.s("PatientBirthDate"),
        sex=h.s("PatientSex"),
        study_id=h.s("StudyID"),
        accession=h.s("AccessionNumber"),
        study_date=h.s("StudyDate"),
        study_time=h.s("StudyTime"),
        study_description=h.s("StudyDescription"),
        series_number=h.i("SeriesNumber"),
        series_description=h.s("SeriesDescription"),
        protocol_name=h.s("ProtocolName"),
        modality=h.s("Modality"),
        manufacturer=h.s("Manufacturer"),
        instance_number=h.i("InstanceNumber"),
        acquisition_number=h.i("AcquisitionNumber"),
        image_type=tuple(v for v in h.s("ImageType").split("\\") if v),
        position=pos,  # type: ignore[arg-type]
        orientation=ori,
        rows=h.i("Rows") or 0,
        columns=h.i("Columns") or 0,
        frames=frames,
        gantry_tilt=tilt_values[0] if tilt_values else 0.0,
        echo_number=h.i("EchoNumbers"),
        series_time=h.s("SeriesTime"),
        software_versions=h.s("SoftwareVersions"),
        sequence_name=h.s("SequenceName"),
        repetition_time=h.s("RepetitionTime"),
        echo_time=h.s("EchoTime"),
        flip_angle=h.s("FlipAngle"),
        size=size,
        pixels_at=pixels_at,
    )


def pixel_fingerprint(inst: Instance) -> str:
    """``"<bytes>:<crc32>"`` of an instance's encoded pixel data, to tell whether the same
    SOP instance arriving again carries different pixels (header changes do not count).

    Native pixel data at the end of the file is read from its known offset; anything
    else (compressed, multi-frame, unusual files) through pydicom.
    """
    from nora_lab.archive.dicom._compress import crc32

    if inst.pixels_at >= 0:
        with open(inst.path, "rb") as fh:
            fh.seek(inst.pixels_at)
            data = fh.read()
    else:
        import pydicom

        ds = pydicom.dcmread(inst.path, specific_tags=["PixelData", "FloatPixelData",
                                                       "DoubleFloatPixelData"], force=True)
        data = next((ds[k].value for k in ("PixelData", "FloatPixelData",
                                           "DoubleFloatPixelData") if k in ds), b"") or b""
    return f"{len(data)}:{crc32(data):08x}"

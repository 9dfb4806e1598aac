"""Find the DICOM instances in a folder, a zip or a list of files — headers only.

Each file is read with pydicom up to its pixel data (``stop_before_pixels``); the pixel
element's header is then looked at without loading it, so that pixel-less objects
(structured reports, presentation states, DICOMDIR) and truncated files are told apart
from images. Everything that is not imported is kept as a :class:`Skipped` with its
path and reason; nothing is dropped silently.

Large scans run in worker processes (pydicom's parser holds the GIL); small ones run
in-process, where starting workers would cost more than it saves.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zipfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement

from nora_lab.errors import DicomImportError

__all__ = ["Instance", "Skipped", "ScanResult", "scan", "read_instance", "expand_source"]

#: below this many files a scan runs in-process
PARALLEL_MIN_FILES = 96
_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
_MAX_UNZIPPED = 64 * 1024**3


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
    size: int = 0


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file that was not imported, and why."""

    path: str
    reason: str


@dataclass
class ScanResult:
    """What :func:`scan` found."""

    instances: list[Instance] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    #: non-DICOM files (candidates for ``extrafiles_filter``), as (path, source) pairs
    others: list[tuple[str, str]] = field(default_factory=list)
    #: the folder the source paths are relative to (for extra files and ``pattern``)
    root: str = ""
    #: folders (as read) holding a DICOM-like file that is not imported (corrupt,
    #: truncated, duplicate…): dcm2niix must never read these folders directly
    unsafe_dirs: set[str] = field(default_factory=set)
    #: every file path read (instances, skipped and others)
    read_paths: set[str] = field(default_factory=set)

    def instances_by_dir(self) -> dict[str, int]:
        """How many imported instances each folder (as read) holds."""
        counts: dict[str, int] = {}
        for i in self.instances:
            d = os.path.dirname(i.path)
            counts[d] = counts.get(d, 0) + 1
        return counts


def _str(ds: Any, keyword: str) -> str:
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
_WANTED = list(_TAGS.values())
_CODECS = {"": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1",
           "ISO_IR 192": "utf-8"}
_US = frozenset({"Rows", "Columns", "BitsAllocated", "SamplesPerPixel"})


class _Fields:
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


def _first_frame_geometry(ds: Any) -> tuple[Any, Any]:
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


def _pixel_problem(fp: Any, ds: Any, size: int) -> str | None:
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
    h = _Fields(ds)
    bits, rows, cols = h.i("BitsAllocated"), h.i("Rows"), h.i("Columns")
    if not (bits and rows and cols):
        return 0
    n = rows * cols * (h.i("SamplesPerPixel") or 1) * (h.i("NumberOfFrames") or 1)
    return (n * bits + 7) // 8


def read_instance(path: str, source: str | None = None) -> Instance | Skipped:
    """Read one file's header; an :class:`Instance`, or a :class:`Skipped` saying why not."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fp:
            try:
                ds = pydicom.dcmread(fp, stop_before_pixels=True, specific_tags=_WANTED)
            except InvalidDicomError:
                fp.seek(0)
                if size < 132:
                    return Skipped(path, "not a DICOM file (too short)")
                # DICOM without the Part 10 preamble: accept only if it parses as an image
                try:
                    ds = pydicom.dcmread(fp, stop_before_pixels=True, force=True,
                                         specific_tags=_WANTED)
                except Exception:  # noqa: BLE001
                    return Skipped(path, "not a DICOM file (no 'DICM' preamble)")
                if "SOPInstanceUID" not in ds or "SeriesInstanceUID" not in ds:
                    return Skipped(path, "not a DICOM file (no 'DICM' preamble)")
            problem = _pixel_problem(fp, ds, size)
    except Exception as exc:  # noqa: BLE001 - any parser failure is a reason to report
        return Skipped(path, f"corrupt DICOM: {type(exc).__name__}: {exc}")
    if _str(ds.get("file_meta", {}), "MediaStorageSOPClassUID") == "1.2.840.10008.1.3.10":
        return Skipped(path, "DICOMDIR (an index of other files, no image)")
    h = _Fields(ds)
    missing = [k for k in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
               if not h.s(k)]
    if missing:
        return Skipped(path, f"missing {', '.join(missing)}: cannot file this instance")
    if problem:
        return Skipped(path, problem)
    pos = h.f("ImagePositionPatient", 3)
    ori = h.f("ImageOrientationPatient", 6)
    frames = h.i("NumberOfFrames") or 1
    if frames > 1 and (pos is None or ori is None):
        pos2, ori2 = _first_frame_geometry(ds)
        pos, ori = pos or pos2, ori or ori2
    tilt_values = h.f("GantryDetectorTilt", 1)
    tilt = tilt_values[0] if tilt_values else 0.0
    meta = ds.get("file_meta")
    return Instance(
        path=path,
        source=source or path,
        sop_uid=h.s("SOPInstanceUID"),
        study_uid=h.s("StudyInstanceUID"),
        series_uid=h.s("SeriesInstanceUID"),
        sop_class=h.s("SOPClassUID"),
        transfer_syntax=_str(meta, "TransferSyntaxUID") if meta is not None else "",
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
        gantry_tilt=tilt,
        echo_number=h.i("EchoNumbers"),
        size=size,
    )


def _read_chunk(items: Sequence[tuple[str, str]]) -> list[Instance | Skipped]:
    return [read_instance(p, s) for p, s in items]


def _safe_extract(zpath: Path, dest: Path) -> None:
    """Unzip ``zpath`` into ``dest``, refusing members that would land outside it."""
    dest = dest.resolve()
    try:
        zf = zipfile.ZipFile(zpath)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DicomImportError(f"{zpath}: not a readable zip archive ({exc})") from exc
    with zf:
        total = sum(i.file_size for i in zf.infolist())
        if total > _MAX_UNZIPPED:
            raise DicomImportError(
                f"{zpath}: unpacks to {total / 1024**3:.1f} GiB, over the "
                f"{_MAX_UNZIPPED / 1024**3:.0f} GiB limit; unpack it yourself and import the folder")
        for info in zf.infolist():
            target = (dest / info.filename).resolve()
            if target != dest and dest not in target.parents:
                raise DicomImportError(
                    f"{zpath}: member {info.filename!r} would be written outside the "
                    "import folder; refusing this zip")
        zf.extractall(dest)


def expand_source(source: Any, staging: Path) -> tuple[list[tuple[str, str]], str]:
    """The (path to read, path to report) pairs of a source, and its root folder.

    ``source`` is a folder (walked recursively, hidden files skipped), a ``.zip`` file
    (unpacked into ``staging``; reported paths are ``<zip>/<member>``), one file, or an
    iterable of files and folders.
    """
    if isinstance(source, (str, os.PathLike)):
        sources = [Path(source)]
        single = True
    else:
        sources = [Path(s) for s in source]
        single = False
    out: list[tuple[str, str]] = []
    for n, src in enumerate(sources):
        if not src.exists():
            raise DicomImportError(f"import source {src} does not exist")
        if src.is_dir():
            for dirpath, dirnames, filenames in os.walk(src):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    if not name.startswith("."):
                        p = os.path.join(dirpath, name)
                        out.append((p, p))
        elif zipfile.is_zipfile(src) and src.suffix.lower() == ".zip":
            dest = staging / f"unzip{n}"
            dest.mkdir(parents=True, exist_ok=True)
            _safe_extract(src, dest)
            for dirpath, dirnames, filenames in os.walk(dest):
                dirnames.sort()
                for name in sorted(filenames):
                    if name.startswith(".") or "__MACOSX" in dirpath:
                        continue
                    p = os.path.join(dirpath, name)
                    out.append((p, os.path.join(str(src), os.path.relpath(p, dest))))
        else:
            out.append((str(src), str(src)))
    if single and sources[0].is_dir():
        root = str(sources[0])
    else:
        parents = [os.path.dirname(s) for _, s in out] or [str(Path.cwd())]
        root = os.path.commonpath(parents) if len(set(parents)) > 1 else parents[0]
    return out, root


def scan(source: Any, *, staging: Path, workers: int | None = None,
         progress: Any = None, on_files: Any = None) -> ScanResult:
    """Index every file of ``source``: DICOM instances, skipped files and other files.

    Parameters
    ----------
    source
        A folder, a ``.zip``, a file, or an iterable of files/folders.
    staging
        A private folder where a zip is unpacked.
    workers
        Processes to read headers with (default: all cores).
    progress
        A tqdm-like bar (``update(n)``) or None.
    on_files
        Called with the list of ``(path read, path reported)`` before headers are read
        (the importer starts speculative conversions from it).

    Returns
    -------
    ScanResult
    """
    files, root = expand_source(source, staging)
    result = ScanResult(root=root)
    result.read_paths = {p for p, _ in files}
    workers = max(1, workers or os.cpu_count() or 1)
    if progress is not None:
        progress.reset(total=len(files))
    if workers == 1 or len(files) < PARALLEL_MIN_FILES:
        if on_files is not None:
            on_files(files)
        chunks_out: Iterable[list[Instance | Skipped]] = (
            _read_chunk(files[i:i + 16]) for i in range(0, len(files), 16))
        _collect(result, files, chunks_out, progress, 16)
    else:
        import multiprocessing as mp

        size = max(16, min(256, len(files) // (workers * 4) + 1))
        chunks = [files[i:i + size] for i in range(0, len(files), size)]
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            # fork every worker before on_files starts threads of ours
            list(pool.map(_started, range(workers)))
            if on_files is not None:
                on_files(files)
            _collect(result, files, pool.map(_read_chunk, chunks), progress, size)
    return result


def _started(_: int) -> int:
    return os.getpid()


def _collect(result: ScanResult, files: list[tuple[str, str]],
             chunks: Iterable[list[Instance | Skipped]], progress: Any, size: int) -> None:
    sources = {p: s for p, s in files}
    seen: dict[str, str] = {}
    for chunk in chunks:
        for item in chunk:
            if isinstance(item, Instance):
                first = seen.get(item.sop_uid)
                if first is not None:
                    result.unsafe_dirs.add(os.path.dirname(item.path))
                    result.skipped.append(Skipped(
                        item.source, f"duplicate SOPInstanceUID {item.sop_uid} (same as {first})"))
                    continue
                seen[item.sop_uid] = item.source
                result.instances.append(item)
            elif item.reason.startswith("not a DICOM file"):
                result.others.append((item.path, sources.get(item.path, item.path)))
                result.skipped.append(Skipped(sources.get(item.path, item.path), item.reason))
            else:
                result.unsafe_dirs.add(os.path.dirname(item.path))
                result.skipped.append(Skipped(sources.get(item.path, item.path), item.reason))
        if progress is not None:
            progress.update(len(chunk))
    with contextlib.suppress(Exception):
        result.instances.sort(key=lambda i: i.source)

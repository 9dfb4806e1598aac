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
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nora_lab.archive.dicom._header import (
    WANTED,
    Fields,
    first_frame_geometry,
    header_str,
    pixel_problem,
)
from nora_lab.archive.dicom._source import expand_source

__all__ = ["Instance", "Skipped", "ScanResult", "scan", "read_instance", "expand_source"]

#: below this many files a scan runs in-process
PARALLEL_MIN_FILES = 96
_NO_PREAMBLE_GROUPS = (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08")


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


def read_instance(path: str, source: str | None = None) -> Instance | Skipped:
    """Read one file's header; an :class:`Instance`, or a :class:`Skipped` saying why not."""
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
            problem = pixel_problem(fp, ds, size)
    except Exception as exc:  # noqa: BLE001 - any parser failure is a reason to report
        return Skipped(path, f"corrupt DICOM: {type(exc).__name__}: {exc}")
    if header_str(ds.get("file_meta", {}), "MediaStorageSOPClassUID") == "1.2.840.10008.1.3.10":
        return Skipped(path, "DICOMDIR (an index of other files, no image)")
    h = Fields(ds)
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
        pos2, ori2 = first_frame_geometry(ds)
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
        transfer_syntax=header_str(meta, "TransferSyntaxUID") if meta is not None else "",
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

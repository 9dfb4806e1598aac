"""Find the DICOM instances in a folder, a zip or a list of files — headers only.

Each file's header is read up to its pixel data (:func:`._instance.read_instance`: an
element walker for the common encodings, pydicom for the rest); the pixel element is
checked without loading it, so that pixel-less objects (structured reports,
presentation states, DICOMDIR) and truncated files are told apart from images.
Everything that is not imported is kept as a :class:`Skipped` with its path and
reason; nothing is dropped silently.

A header costs about 0.1 ms, so scans run in-process; only very large ones
(:data:`PARALLEL_MIN_FILES`) are spread over worker processes, where starting them
costs less than it saves.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nora_lab.archive.dicom._instance import Instance, Skipped, read_instance
from nora_lab.archive.dicom._source import expand_source

__all__ = ["Instance", "Skipped", "ScanResult", "scan", "read_instance", "expand_source"]

#: below this many files a scan runs in-process
PARALLEL_MIN_FILES = 2000


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

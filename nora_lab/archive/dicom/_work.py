"""One unit of conversion work: dcm2niix, nibabel checks, scrubbing, parallel gzip.

Work runs in a private folder of the import's staging area and never touches the
archive: the commit (in :mod:`.importer`) moves its results in. dcm2niix always writes
under the neutral stem :data:`STEM`; the commit renames by the project's policy, so
that work can start before the series — or its name — is known.

**Speculation.** While the headers are still being scanned, a source folder that looks
like one whole series (its first and last DICOM files belong to the same series, which
the project does not hold yet, and the folder holds only files of this import) is
already handed to dcm2niix as a whole. If the scan then confirms that the folder holds
exactly one series and nothing unsafe, the import uses that result: dcm2niix read
exactly the files it would have been given, so the outcome is the same, only earlier.
Otherwise the result is dropped and the series is converted from its instances.
"""

from __future__ import annotations

import os
import tarfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nora_lab.archive.dicom import _archive as arc
from nora_lab.archive.dicom._compress import gzip_file
from nora_lab.archive.dicom._convert import Conversion, convert_series, scrub_nifti_header
from nora_lab.archive.dicom._naming import Policy
from nora_lab.archive.dicom._scan import Instance, read_instance
from nora_lab.archive.dicom._staging import Staging
from nora_lab.errors import NoraError

__all__ = ["STEM", "Work", "Speculation", "convert_work", "speculate", "final_stem",
           "tar_originals", "exact_folder"]

STEM = "img"
_SAMPLE = 3


@dataclass
class Work:
    """What one conversion produced (paths inside the staging folder)."""

    conv: Conversion | None = None
    gz: dict[str, Path] = field(default_factory=dict)  # dcm2niix stem -> staged .nii.gz
    problems: list[str] = field(default_factory=list)
    gzip_s: float = 0.0
    seconds: float = 0.0
    speculative: bool = False


def final_stem(dcm_stem: str, stem: str) -> str:
    """dcm2niix's ``img``, ``img_e2``, ``imga`` … → the policy's ``s005``, ``s005_e2`` …"""
    return stem + dcm_stem[len(STEM):]


def convert_work(work: Path, instances: list[Instance], folder: str | None, *,
                 level: int, pseudo: bool, timeout: float | None) -> Work:
    """Convert one series in ``work``: dcm2niix, checks, header scrub, gzip."""
    out = Work()
    t0 = time.perf_counter()
    try:
        conv = out.conv = convert_series(instances, work, STEM, timeout=timeout, folder=folder)
        for o in conv.outputs:
            if o.problem:
                out.problems.append(f"{o.stem}.nii refused: {o.problem}")
                continue
            if pseudo:
                scrub_nifti_header(o.nii)
            gz = o.nii.with_name(o.stem + ".nii.gz")
            t1 = time.perf_counter()
            gzip_file(o.nii, gz, level=level)
            out.gzip_s += time.perf_counter() - t1
            o.nii.unlink()
            out.gz[o.stem] = gz
        if not conv.outputs:
            out.problems.append(f"dcm2niix wrote no image (exit code {conv.returncode})"
                                + (f": {conv.warnings[-1]}" if conv.warnings else ""))
    except (OSError, NoraError, ValueError) as exc:
        out.problems.append(f"conversion failed: {type(exc).__name__}: {exc}")
    out.seconds = time.perf_counter() - t0
    return out


def exact_folder(folder: str, paths: set[str]) -> bool:
    """True when ``folder``'s files (hidden ones too) are exactly ``paths``."""
    try:
        with os.scandir(folder) as it:
            listed = {e.path for e in it if not e.is_dir()}
    except OSError:
        return False
    return listed == paths


def _sample(paths: list[str]) -> list[Instance]:
    found = []
    for group in (paths[:_SAMPLE], paths[::-1][:_SAMPLE]):
        for p in group:
            inst = read_instance(p)
            if isinstance(inst, Instance):
                found.append(inst)
                break
    return found


def speculate(work: Path, folder: str, paths: list[str], *, level: int, pseudo: bool,
              timeout: float | None, is_known: Callable[[str], bool],
              cancelled: threading.Event) -> Work | None:
    """Convert a whole source folder before its scan ends, if it looks like one series.

    Returns None (nothing done) when the folder does not look like one new series or
    the import no longer wants it.
    """
    try:
        if cancelled.is_set() or not exact_folder(folder, set(paths)):
            return None
        sample = _sample(sorted(paths))
        keys = {(i.study_uid, i.series_uid, i.series_number) for i in sample}
        if len(sample) != 2 or len(keys) != 1 or is_known(sample[0].sop_uid):
            return None
        if cancelled.is_set():
            return None
        out = convert_work(work, [], folder, level=level, pseudo=pseudo, timeout=timeout)
    except Exception:  # noqa: BLE001 - speculation never fails an import
        return None
    out.speculative = True
    return out


def tar_originals(instances: list[Instance], dest: Path, level: int) -> Path:
    """The series' original files as ``dicom.tar.gz`` (members named by SOP UID)."""
    raw = dest.with_suffix("")  # dicom.tar
    with tarfile.open(raw, "w", format=tarfile.PAX_FORMAT) as tf:
        for inst in instances:
            info = tf.gettarinfo(inst.path, arcname=f"{inst.sop_uid}.dcm")
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o644
            with open(inst.path, "rb") as fh:
                tf.addfile(info, fh)
    gzip_file(raw, dest, level=level)
    raw.unlink()
    return dest


class Speculation:
    """Conversions started on whole source folders while the scan still runs."""

    def __init__(self, project: Any, pool: ThreadPoolExecutor, staging: Staging,
                 policy: Policy, pseudo: bool):
        self.project, self.pool, self.staging = project, pool, staging
        self.policy, self.pseudo = policy, pseudo
        self.futures: dict[str, Future[Work | None]] = {}
        self.cancelled: dict[str, threading.Event] = {}
        self.any_known = True

    def _is_known(self, sop_uid: str) -> bool:
        return self.any_known and bool(arc.known_instances(self.project, [sop_uid]))

    def start(self, files: list[tuple[str, str]]) -> None:
        by_dir: dict[str, list[str]] = defaultdict(list)
        for path, _ in files:
            by_dir[os.path.dirname(path)].append(path)
        self.any_known = arc.has_instances(self.project)  # a new project: no query a folder
        for n, (folder, paths) in enumerate(by_dir.items()):
            work = self.staging.path / f"spec{n:05d}"
            self.cancelled[folder] = threading.Event()
            self.futures[folder] = self.pool.submit(
                speculate, work, folder, paths, level=self.policy.compresslevel,
                pseudo=self.pseudo, timeout=self.policy.dcm2niix_timeout,
                is_known=self._is_known, cancelled=self.cancelled[folder])

    def take(self, folder: str | None) -> Future[Work | None] | None:
        return self.futures.pop(folder, None) if folder else None

    def drop_the_rest(self) -> None:
        """Cancel the speculations no series took (a running dcm2niix finishes unused)."""
        for folder, fut in self.futures.items():
            self.cancelled[folder].set()
            fut.cancel()
        self.futures.clear()

"""The incoming area: received DICOM waits here, raw, until its study is imported.

Layout (one folder per project, study and series; files named by SOP Instance UID)::

    <incoming>/<project>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm
                                                               /.held   (JSON: why it waits)
    <incoming>/.assoc/<id>.open      series an association in progress has written to
    <incoming>/.rejected/…           payloads that were not DICOM, with the reason
    <incoming>/.unimported/<project>/<study>/<series>/…  instances the import refused, + reason.txt

Rules that make it safe:

- every instance is written under a temporary name and renamed into place, so a killed
  node leaves only complete files under real names; the same SOP instance received twice
  is one file;
- an association's journal (``.assoc/<id>.open``) lists the series it touched; a normal
  release removes it; an abort, a dropped connection — or, found at start-up, a node
  that was killed — turns it into a ``.held`` marker on each of those series: a partial
  series is never imported as if it were complete. A later association that sends to the
  series and releases normally lifts the hold (the sender sent it again), as does
  :meth:`Incoming.release` (the user's decision);
- a study is imported once no instance has arrived for the quiet period and no open
  association or pull is writing to it; imported instances are deleted, the others are
  moved to ``.unimported`` with the import's reason; nothing is deleted before the archive
  holds it (the import's ``dicom_instances`` table says so).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nora_lab.archive.layout import TMP_PREFIX
from nora_lab.archive.pacs._files import atomic_write, safe_uid
from nora_lab.archive.pacs._journal import Journal, alive, read_journal

__all__ = ["Incoming", "Journal", "PendingSeries", "safe_uid"]

HELD = ".held"


@dataclass
class PendingSeries:
    """A series waiting in the incoming area."""

    project: str
    study_uid: str
    series_uid: str
    path: Path
    instances: int
    last_arrival: float
    held: str | None = None


class Incoming:
    """The incoming area at ``root`` (created on first use)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        for sub in (".assoc", ".rejected", ".unimported"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._made: dict[tuple[str, str, str], str] = {}  # series -> its folder
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Incoming {self.root}>"

    # --- writing ----------------------------------------------------------------------
    def series_dir(self, project: str, study_uid: str, series_uid: str) -> Path:
        return self.root / project / safe_uid(study_uid) / safe_uid(series_uid)

    def write(self, project: str, study_uid: str, series_uid: str, sop_uid: str,
              parts: Iterable[Any]) -> str:
        """Store one instance (``parts``: its bytes, in pieces) atomically; its path."""
        key = (project, study_uid, series_uid)
        folder = self._made.get(key)
        if folder is None:
            folder = str(self.series_dir(project, study_uid, series_uid))
            os.makedirs(folder, exist_ok=True)
            self._made[key] = folder
        dest = os.path.join(folder, safe_uid(sop_uid) + ".dcm")
        parts = list(parts)
        try:
            atomic_write(dest, parts)
        except FileNotFoundError:  # the importer removed the emptied folder meanwhile
            os.makedirs(folder, exist_ok=True)
            atomic_write(dest, parts)
        return dest

    def reject(self, data: Iterable[Any], reason: str, calling: str = "") -> Path:
        """Keep a payload that could not be filed, with the reason beside it."""
        stamp = time.strftime("%Y%m%dT%H%M%S")
        base = self.root / ".rejected" / f"{stamp}-{safe_uid(calling) if calling else 'x'}" \
            f"-{uuid.uuid4().hex[:8]}"
        atomic_write(base.with_suffix(".bin"), data)
        atomic_write(base.with_suffix(".txt"), [f"from {calling!r}: {reason}\n".encode()])
        return base.with_suffix(".bin")

    # --- holds --------------------------------------------------------------------------
    def hold(self, project: str, study_uid: str, series_uid: str, reason: str) -> None:
        """Keep a series out of imports until it is released (reasons accumulate)."""
        folder = self.series_dir(project, study_uid, series_uid)
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            reasons = _held_reasons(folder)
            if reason not in reasons:
                reasons.append(reason)
            info = {"reasons": reasons, "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "study_uid": study_uid, "series_uid": series_uid}
            atomic_write(folder / HELD, [json.dumps(info).encode()])

    def release(self, project: str, study_uid: str, series_uid: str | None = None) -> int:
        """Lift the hold of a series (or of every series of the study); how many."""
        study = self.root / project / safe_uid(study_uid)
        markers = [study / safe_uid(series_uid) / HELD] if series_uid else \
            list(study.glob(f"*/{HELD}"))
        n = 0
        for m in markers:
            with contextlib.suppress(FileNotFoundError):
                m.unlink()
                n += 1
        return n

    def held(self, project: str, study_uid: str, series_uid: str) -> str | None:
        """Why the series is held, or None."""
        return _held_reason(self.series_dir(project, study_uid, series_uid))

    # --- association journals -------------------------------------------------------------
    def journal(self, calling: str, called: str) -> Journal:
        return Journal(self, calling, called)

    def recover(self) -> list[str]:
        """Hold the series that associations of dead processes left open; the reasons.

        A journal belongs to the process that wrote it; one whose process is gone (a
        killed node, a killed pull) means its series may be incomplete.
        """
        reasons = []
        for path in sorted((self.root / ".assoc").glob("*.open")):
            info, series = read_journal(path)
            if alive(info):
                continue
            reason = (f"the node stopped while receiving from {info.get('calling', '?')!r} "
                      f"(association begun {info.get('begun', '?')}); the series may be "
                      "incomplete — send it again, or release it")
            for project, study, ser in series:
                self.hold(project, study, ser, reason)
            reasons.append(reason)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return reasons

    def busy(self) -> set[tuple[str, str]]:
        """``(project, study folder)`` of every study a live association (of any process
        sharing this area) is writing to; journals of dead processes become holds."""
        out: set[tuple[str, str]] = set()
        dead = False
        for path in (self.root / ".assoc").glob("*.open"):
            info, series = read_journal(path)
            if not alive(info):
                dead = True
                continue
            out |= {(p, safe_uid(s)) for p, s, _ in series}
        if dead:
            self.recover()
        return out

    # --- what is waiting ----------------------------------------------------------------
    def series(self, project: str | None = None, *, count: bool = True
               ) -> list[PendingSeries]:
        """Every series in the area (of one project, or all).

        ``count=False`` only tells empty from not (``instances`` 0 or 1): the import loop
        asks every second and need not list every file of a large backlog.
        """
        out = []
        projects = [self.root / project] if project else \
            [p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")]
        for pdir in projects:
            if not pdir.is_dir():
                continue
            for sdir in pdir.iterdir():
                if not sdir.is_dir():
                    continue
                for ser in sdir.iterdir():
                    if not ser.is_dir():
                        continue
                    n = _count(ser) if count else _any(ser)
                    held = _held_reason(ser)
                    if not n and not held:
                        continue
                    out.append(PendingSeries(pdir.name, sdir.name, ser.name, ser, n,
                                             ser.stat().st_mtime, held))
        return out

    def pending(self, project: str | None = None) -> Any:
        """The waiting series as a DataFrame (project, study, series, instances, held, …)."""
        import pandas as pd

        rows = [{"project": s.project, "StudyInstanceUID": s.study_uid,
                 "SeriesInstanceUID": s.series_uid, "instances": s.instances,
                 "last_arrival": pd.Timestamp(s.last_arrival, unit="s"),
                 "held": s.held} for s in self.series(project)]
        return pd.DataFrame(rows, columns=["project", "StudyInstanceUID",
                                           "SeriesInstanceUID", "instances",
                                           "last_arrival", "held"])

    def ready(self, quiet_period: float, busy: AbstractSet[tuple[str, str]] = frozenset(),
              now: float | None = None) -> list[tuple[str, str, list[PendingSeries]]]:
        """Studies to import now: ``(project, study_uid, series not held)``.

        A study is ready when nothing has arrived for ``quiet_period`` seconds, it is not
        in ``busy`` (open associations, pulls) and one of its series is not held.
        """
        now = time.time() if now is None else now
        studies: dict[tuple[str, str], list[PendingSeries]] = {}
        for s in self.series(count=False):
            studies.setdefault((s.project, s.study_uid), []).append(s)
        out = []
        for key, series in sorted(studies.items()):
            if key in busy or now - max(s.last_arrival for s in series) < quiet_period:
                continue
            free = [s for s in series if not s.held and s.instances]
            if free:
                out.append((key[0], key[1], free))
        return out

    # --- importing ----------------------------------------------------------------------
    def import_series(self, project: Any, series: list[PendingSeries], *,
                      keep_dicom: bool | None = None, progress: bool = False,
                      workers: int | None = None) -> Any:
        """Import waiting series into ``project``; remove what the archive now holds.

        Instances the import refused move to ``.unimported`` with the report's reason.
        An exception (database down, dcm2niix missing) leaves every file where it is.

        Returns
        -------
        ImportReport
        """
        from nora_lab.archive.dicom._archive import known_instances
        from nora_lab.archive.dicom.importer import import_dicom

        files = sorted(str(p) for s in series for p in s.path.glob("*.dcm"))
        report = import_dicom(project, files, keep_dicom=keep_dicom, progress=progress,
                              workers=workers)
        sops = {f: _sop_of(f) for f in files}
        known = known_instances(project, [s for s in sops.values() if s])
        leftovers: dict[Path, list[str]] = {}
        for f, sop in sops.items():
            if sop and sop in known:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f)
            else:
                leftovers.setdefault(Path(f).parent, []).append(f)
        if leftovers:
            self._set_aside(project.name, leftovers, report)
        for s in series:
            _rmdir_empty(s.path, self.root)
        return report

    def _set_aside(self, project: str, leftovers: dict[Path, list[str]], report: Any) -> None:
        why = {s.series_uid: "; ".join(s.problems) or s.status for s in report.series}
        skipped = {k.path: k.reason for k in report.skipped}
        for folder, files in leftovers.items():
            dest = self.root / ".unimported" / project / folder.parent.name / folder.name
            dest.mkdir(parents=True, exist_ok=True)
            lines = [f"series {folder.name}: {why.get(folder.name, 'not imported')}"]
            for f in files:
                if f in skipped:
                    lines.append(f"{os.path.basename(f)}: {skipped[f]}")
                os.replace(f, dest / os.path.basename(f))
            with open(dest / "reason.txt", "a") as fh:
                fh.write(time.strftime("%Y-%m-%d %H:%M:%S ") + "\n".join(lines) + "\n")
            self._made = {k: v for k, v in self._made.items() if v != str(folder)}


def _count(folder: Path) -> int:
    with os.scandir(folder) as it:
        return sum(1 for e in it if e.name.endswith(".dcm"))


def _any(folder: Path) -> int:
    with os.scandir(folder) as it:
        return int(any(e.name.endswith(".dcm") for e in it))


def _held_reasons(folder: Path) -> list[str]:
    try:
        info = json.loads((folder / HELD).read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        return ["held (unreadable marker)"]
    return list(info.get("reasons") or ([info["reason"]] if info.get("reason") else ["held"]))


def _held_reason(folder: Path) -> str | None:
    reasons = _held_reasons(folder)
    return "; then ".join(reasons) if reasons else None


def _sop_of(path: str) -> str | None:
    name = os.path.basename(path)[:-4]
    if not name.startswith("x-"):
        return name
    try:
        from pydicom import dcmread

        return str(dcmread(path, stop_before_pixels=True,
                           specific_tags=["SOPInstanceUID"]).SOPInstanceUID)
    except Exception:  # noqa: BLE001
        return None


def _rmdir_empty(folder: Path, root: Path) -> None:
    """Remove ``folder`` and its study folder if nothing is left in them."""
    for d in (folder, folder.parent):
        if d == root or root not in d.parents:
            return
        with contextlib.suppress(FileNotFoundError):
            for e in os.scandir(d):
                if e.name.startswith(TMP_PREFIX) and time.time() - e.stat().st_mtime > 3600:
                    with contextlib.suppress(OSError):
                        os.unlink(e.path)
        try:
            d.rmdir()
        except OSError:
            return

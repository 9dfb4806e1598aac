"""Integrity check: do the database rows and the files on disk agree?

Finds rows whose file is missing, files no row knows, content that no longer matches its
recorded SHA-256, temporary files left by an interrupted write, backups of replaced files
(``.nora-old-*``) and journals of writes that a killed process left (:mod:`.journal`).
With ``repair=True`` it first finishes or undoes those writes (old content comes back),
then drops rows without files, registers unknown files and removes temporary files;
checksum mismatches are only reported (the archive cannot know which is right). It goes
on past anything it cannot repair and lists each with the reason
(:attr:`FsckReport.unrepaired`). Hidden folders at the top of a project (``.nora-import``,
``.nora``) are the import's and the batch layer's work areas and are not checked.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from nora_lab.archive import _db, journal
from nora_lab.archive import _schema as t
from nora_lab.archive.layout import TMP_PREFIX, sha256
from nora_lab.archive.project import Project
from nora_lab.errors import NoraError, NotFoundError, UnsafePathError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FsckReport", "fsck"]


@dataclass
class FsckReport:
    """What :func:`fsck` found (and did)."""

    missing_files: list[str] = field(default_factory=list)  # rows without a file
    unknown_files: list[str] = field(default_factory=list)  # files without a row
    checksum_mismatch: list[str] = field(default_factory=list)
    temp_files: list[str] = field(default_factory=list)
    backup_files: list[str] = field(default_factory=list)  # .nora-old-*: a replaced file
    interrupted_writes: list[str] = field(default_factory=list)  # journals left behind
    recovered: list[str] = field(default_factory=list)  # what repair finished or undid
    unrepaired: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    repaired: bool = False

    KINDS = ("missing_files", "unknown_files", "checksum_mismatch", "temp_files",
             "backup_files", "interrupted_writes")

    @property
    def ok(self) -> bool:
        """Nothing wrong (after a repair: nothing left that it could not fix)."""
        if self.repaired:
            return not (self.unrepaired or self.checksum_mismatch)
        return not any(getattr(self, kind) for kind in self.KINDS)

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        rows = [(kind, p, "") for kind in self.KINDS for p in getattr(self, kind)]
        rows += [("unrepaired", p, why) for p, why in self.unrepaired]
        return pd.DataFrame(rows, columns=["problem", "path", "reason"])

    def __str__(self) -> str:
        if not any(getattr(self, kind) for kind in self.KINDS) and not self.unrepaired:
            return "fsck: rows and files agree"
        lines = [f"{kind}: {p}" for kind in self.KINDS for p in getattr(self, kind)]
        lines += list(self.recovered)
        lines += [f"not repaired: {p}: {why}" for p, why in self.unrepaired]
        if not self.repaired:
            lines.append("run with --repair to fix what can be fixed")
        elif self.unrepaired or self.checksum_mismatch:
            lines.append(f"repaired what could be; {len(self.unrepaired)} left (see above)"
                         + (", checksum mismatches are only reported"
                            if self.checksum_mismatch else ""))
        else:
            lines.append("repaired")
        return "\n".join(lines)


def fsck(project: Project, *, checksums: bool = True, repair: bool = False) -> FsckReport:
    """Compare the project's rows with its folder.

    Parameters
    ----------
    project
        The project to check (repairs need the editor role).
    checksums
        Re-hash every file (slow on big archives) to find changed content.
    repair
        Fix what can be fixed (see the module docstring).
    """
    rep = FsckReport()
    if repair:
        project._require("editor", "repairing the archive")
        rep.recovered = journal.recover(project.root, project._journal_committed)
    rep.interrupted_writes = [str(j) for j in journal.pending(project.root)]
    f, s, sub = t.files, t.studies, t.subjects
    with _db.read(project.archive.engine) as conn:
        rows = conn.execute(
            sa.select(f.c.id, f.c.series, f.c.name, f.c.sha256, sub.c.subject_id, s.c.study_id)
            .join(s, s.c.id == f.c.study).join(sub, sub.c.id == s.c.subject)
            .where(f.c.project_id == project.pk)).all()
    known: dict[Path, tuple[int, str]] = {}
    for r in rows:
        rel = f"{r.series}/{r.name}" if r.series else r.name
        known[project.root / r.subject_id / r.study_id / rel] = (r.id, r.sha256)
    on_disk: set[Path] = set()
    if project.root.exists():
        for dirpath, dirnames, filenames in os.walk(project.root):
            if dirpath == str(project.root):
                # hidden folders at the top are the layers' work areas (.nora-import, .nora)
                dirnames[:] = [d for d in dirnames
                               if not d.startswith(".") or d.startswith(TMP_PREFIX)]
            for d in [d for d in dirnames if d.startswith(TMP_PREFIX)]:
                rep.temp_files.append(str(Path(dirpath) / d))
                dirnames.remove(d)
            for name in filenames:
                p = Path(dirpath) / name
                if name.startswith(TMP_PREFIX):
                    rep.temp_files.append(str(p))
                elif name.startswith(journal.BACKUP_PREFIX):
                    rep.backup_files.append(str(p))
                else:
                    on_disk.add(p)
    missing = [p for p in known if p not in on_disk]
    rep.missing_files = sorted(map(str, missing))
    unknown = sorted(p for p in on_disk - known.keys()
                     if len(p.relative_to(project.root).parts) >= 3)
    rep.unknown_files = list(map(str, unknown))
    if checksums:
        rep.checksum_mismatch = sorted(str(p) for p, (_, digest) in known.items()
                                       if p in on_disk and digest and _digest(p) != digest)
    if repair:
        _repair(project, rep, [known[p][0] for p in missing], unknown)
    return rep


def _digest(path: Path) -> str | None:
    try:
        return sha256(path)
    except OSError:
        return None


def _repair(project: Project, rep: FsckReport, missing_ids: list[int],
            unknown: list[Path]) -> None:
    """Fix what can be fixed, one entry at a time; note each that cannot be, and why."""
    f = t.files
    with _db.write(project.archive.engine) as conn:
        for i in range(0, len(missing_ids), 500):
            conn.execute(sa.delete(f).where(f.c.id.in_(missing_ids[i:i + 500])))
    for p in unknown:
        try:
            if p.is_symlink():
                raise UnsafePathError(f"a symbolic link (to {os.readlink(p)}): not registered")
            psid, _ = project._locate(p)
            project.study(psid)
            project.register(p)
        except NotFoundError:
            rep.unrepaired.append((str(p), "in a folder that no study row knows; left for a "
                                           "human"))
        except (NoraError, OSError) as exc:
            rep.unrepaired.append((str(p), str(exc)))
    for p in rep.temp_files:
        path = Path(p)
        try:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else \
                path.unlink(missing_ok=True)
        except OSError as exc:
            rep.unrepaired.append((p, f"could not remove: {exc}"))
    for p in rep.backup_files:
        if Path(p).exists():  # a journal's recovery above takes care of its own backups
            rep.unrepaired.append((p, "the old content of a replaced file whose write left "
                                      "no journal; kept: compare it with the file beside it"))
    rep.interrupted_writes = [str(j) for j in journal.pending(project.root)]
    rep.unrepaired += [(j, "a write still in progress (or its process cannot be checked)")
                       for j in rep.interrupted_writes]
    rep.repaired = True

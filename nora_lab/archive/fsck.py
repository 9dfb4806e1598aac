"""Integrity check: do the database rows and the files on disk agree?

Finds rows whose file is missing, files no row knows, content that no longer matches its
recorded SHA-256, and temporary files left by an interrupted write. With ``repair=True``
rows without files are dropped, unknown files are registered, and temporary files are
removed; checksum mismatches are only reported (the archive cannot know which is right).
Hidden folders at the top of a project (``.nora-import``, ``.nora``) are the import's and
the batch layer's work areas and are not checked.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from nora_lab.archive import _db
from nora_lab.archive import _schema as t
from nora_lab.archive.layout import TMP_PREFIX, sha256
from nora_lab.archive.project import Project
from nora_lab.errors import NotFoundError

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
    repaired: bool = False

    @property
    def ok(self) -> bool:
        return not (self.missing_files or self.unknown_files or self.checksum_mismatch
                    or self.temp_files)

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        rows = [(kind, p) for kind in ("missing_files", "unknown_files", "checksum_mismatch",
                                       "temp_files") for p in getattr(self, kind)]
        return pd.DataFrame(rows, columns=["problem", "path"])

    def __str__(self) -> str:
        if self.ok:
            return "fsck: rows and files agree"
        lines = [f"{kind}: {p}" for kind, p in self.to_frame().itertuples(index=False)]
        lines.append("repaired" if self.repaired else "run with --repair to fix what can be fixed")
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
                else:
                    on_disk.add(p)
    missing = [p for p in known if p not in on_disk]
    rep.missing_files = sorted(map(str, missing))
    unknown = sorted(p for p in on_disk - known.keys()
                     if len(p.relative_to(project.root).parts) >= 3)
    rep.unknown_files = list(map(str, unknown))
    if checksums:
        rep.checksum_mismatch = sorted(str(p) for p, (_, digest) in known.items()
                                       if p in on_disk and digest and sha256(p) != digest)
    if repair and not rep.ok:
        project._require("editor", "repairing the archive")
        with _db.write(project.archive.engine) as conn:
            ids = [known[p][0] for p in missing]
            for i in range(0, len(ids), 500):
                conn.execute(sa.delete(f).where(f.c.id.in_(ids[i:i + 500])))
        for p in unknown:
            psid, _ = project._locate(p)
            try:
                project.study(psid)
            except NotFoundError:
                continue  # a folder no study row knows: left for a human
            project.register(p)
        for p in rep.temp_files:
            path = Path(p)
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        rep.repaired = True
    return rep

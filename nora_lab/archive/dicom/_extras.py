"""Non-DICOM files of the source that the import keeps (``extrafiles_filter``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from nora_lab.archive.dicom import _archive as arc
from nora_lab.archive.dicom._group import Series, Study
from nora_lab.archive.dicom._naming import folder_safe
from nora_lab.archive.dicom._sidecar import contains_identity
from nora_lab.archive.dicom.report import ImportReport
from nora_lab.errors import NoraError

__all__ = ["parse_filter", "keep_extras"]


def parse_filter(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    if not spec:
        return ()
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    return tuple("." + e.strip().lower().lstrip(".") for e in items if e.strip())


def keep_extras(project: Any, others: list[tuple[str, str]], exts: tuple[str, ...],
                 studies: list[Study], targets: dict[int, arc.StudyTarget],
                 placed: dict[int, tuple[str, str]], report: ImportReport) -> None:
    """Add the non-DICOM files whose extension is in ``exts`` to their study.

    A file in the folder of exactly one series goes into that series' folder; otherwise
    into the study whose files share its folder, at its path relative to the study's
    common folder. Files that fit no single study are reported, not added.
    """
    series_dirs: dict[str, list[Series]] = {}
    study_roots: list[tuple[str, Study]] = []
    for st in studies:
        dirs = set()
        for s in st.series:
            sdirs = {os.path.dirname(i.path) for i in s.instances}
            dirs |= sdirs
            if len(sdirs) == 1:
                series_dirs.setdefault(sdirs.pop(), []).append(s)
        study_roots.append((os.path.commonpath(sorted(dirs)) if dirs else "", st))
    kept = set()
    for path, source in others:
        if not path.lower().endswith(exts):
            continue
        d = os.path.dirname(path)
        where: tuple[str, str] | None = None
        if len(series_dirs.get(d, [])) == 1 and id(series_dirs[d][0]) in placed:
            psid, folder = placed[id(series_dirs[d][0])]
            where = (psid, f"{folder}/{os.path.basename(path)}")
        else:
            owners = [(root, st) for root, st in study_roots
                      if root and (d == root or d.startswith(root + os.sep))]
            if not owners and len(studies) == 1:
                owners = [(d, studies[0])]
            owners = [o for o in owners if any(id(s) in placed for s in o[1].series)]
            if owners:
                root, st = max(owners, key=lambda o: len(o[0]))
                psid = next(placed[id(s)][0] for s in st.series if id(s) in placed)
                rel = os.path.relpath(path, root).replace(os.sep, "/")
                where = (psid, rel)
        if where is None:
            report.warnings.append(f"extra file {source} belongs to no single imported "
                                   "study; not added")
            continue
        psid, rel = where
        if project.naming == "pseudonym":
            hide = next((t.hide for t in targets.values() if t.psid == psid), ())
            if contains_identity(rel, hide):
                report.warnings.append(f"extra file {source}: its name holds identifying "
                                       "text; not added to a pseudonymized project")
                continue
        rel = "/".join(folder_safe(p, "file") for p in rel.split("/"))
        try:
            project.add_file(path, psid, rel, overwrite=False)
        except NoraError as exc:
            report.warnings.append(f"extra file {source}: {exc}")
            continue
        report.extras.append(f"{psid}/{rel}")
        kept.add(source)
        if psid not in report.studies:
            report.studies.append(psid)
    report.skipped[:] = [k for k in report.skipped if k.path not in kept]

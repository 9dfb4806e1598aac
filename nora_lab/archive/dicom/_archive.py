"""The import's side of the archive: known instances, studies, series folders, commits.

Everything here goes through the public :class:`~nora_lab.archive.project.Project`
API (``add_subject``, ``add_study``, ``study``, ``add_file``, ``add_bytes``) except the
import's own ``dicom_instances`` table, read and written in the archive's transactions.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from nora_lab.archive import _db
from nora_lab.archive import _schema as t
from nora_lab.archive.dicom._group import Series, Study
from nora_lab.archive.dicom._naming import folder_safe, study_key, subject_key, uid_hash
from nora_lab.archive.dicom._sidecar import identity_strings
from nora_lab.archive.dicom._tables import dicom_instances as di
from nora_lab.errors import NotFoundError

__all__ = ["Known", "known_instances", "has_instances", "known_series", "StudyTarget",
           "resolve_study", "series_folders", "record_instances", "sweep_tmp"]

_CHUNK = 500


@dataclass(frozen=True)
class Known:
    """Where an already imported SOP instance was filed."""

    psid: str
    series_folder: str
    series_uid: str
    series_number: int | None
    source: str | None


def _known_rows(project: Any, column: sa.Column, values: Iterable[str]
                ) -> Iterator[tuple[str, Known]]:
    """(sop_uid, Known) of the project's recorded instances whose ``column`` is in ``values``."""
    wanted = list(dict.fromkeys(values))
    q = (sa.select(di.c.sop_uid, di.c.series_folder, di.c.series_uid, di.c.series_number,
                   di.c.source, t.subjects.c.subject_id, t.studies.c.study_id)
         .join(t.studies, t.studies.c.id == di.c.study)
         .join(t.subjects, t.subjects.c.id == t.studies.c.subject))
    with _db.read(project.archive.engine) as conn:
        for i in range(0, len(wanted), _CHUNK):
            for r in conn.execute(q.where(di.c.project_id == project.pk,
                                          column.in_(wanted[i:i + _CHUNK]))):
                yield r.sop_uid, Known(f"{r.subject_id}#{r.study_id}", r.series_folder,
                                       r.series_uid, r.series_number, r.source)


def known_instances(project: Any, sop_uids: Iterable[str]) -> dict[str, Known]:
    """The instances among ``sop_uids`` this project has imported before."""
    return dict(_known_rows(project, di.c.sop_uid, sop_uids))


def has_instances(project: Any) -> bool:
    """True if the project has imported any DICOM instance."""
    with _db.read(project.archive.engine) as conn:
        return conn.execute(sa.select(di.c.sop_uid).where(di.c.project_id == project.pk)
                            .limit(1)).first() is not None


def known_series(project: Any, series_uids: Iterable[str]
                 ) -> dict[tuple[str, int | None], dict[str, Known]]:
    """Every imported instance of these series: ``(uid, number) -> {sop_uid: Known}``."""
    out: dict[tuple[str, int | None], dict[str, Known]] = defaultdict(dict)
    for sop, k in _known_rows(project, di.c.series_uid, series_uids):
        out[(k.series_uid, k.series_number)][sop] = k
    return dict(out)


@dataclass
class StudyTarget:
    """The archive study a source study is filed in."""

    psid: str
    subject: str
    created: bool = False
    hide: tuple[str, ...] = ()
    # series folder -> series keys (series_uid, series_number) already filed there
    folders: dict[str, set[tuple[str, int | None]]] = field(default_factory=dict)


def _identity(study: Study) -> dict[str, str]:
    ident = {"id": study.common("patient_id"), "name": study.common("patient_name"),
             "birthdate": study.common("birth_date"), "sex": study.common("sex")}
    return {k: v for k, v in ident.items() if v}


def resolve_study(project: Any, study: Study) -> StudyTarget:
    """Create (or find) the subject and study of a source study; return its target.

    A header-derived study id already used in the subject by another StudyInstanceUID
    gets ``_<hash>`` appended (explicit ``studies_id`` overrides merge on purpose).
    """
    pseudo = project.naming == "pseudonym"
    real_sid = subject_key(study)
    ident = _identity(study)
    if pseudo:
        subject = project.add_subject(real_sid, identity=ident or None)
    else:
        subject = project.add_subject(folder_safe(real_sid, "P" + uid_hash(study.study_uid)),
                                      identity=ident or None)
    stid = study_key(study, pseudonymized=pseudo)
    psid = f"{subject}#{stid}"
    existing = _study_or_none(project, psid)
    if (existing is not None and not study.override[1]
            and existing["meta"].get("StudyInstanceUID") not in (None, study.study_uid)):
        stid = f"{stid}_{uid_hash(study.study_uid)}"
        psid = f"{subject}#{stid}"
        existing = _study_or_none(project, psid)
    created = existing is None
    if created:
        date = study.common("study_date")
        meta = {"StudyInstanceUID": study.study_uid, "StudyTime": study.common("study_time"),
                "Modalities": sorted({i.modality for s in study.series for i in s.instances
                                      if i.modality})}
        if not pseudo:
            meta.update(AccessionNumber=study.common("accession"),
                        StudyID=study.common("study_id"))
        project.add_study(subject, stid, date=date if len(date) == 8 else None,
                          description=study.common("study_description") or None,
                          meta={k: v for k, v in meta.items() if v})
    hide = identity_strings(ident.get("name", ""), ident.get("id", ""),
                            ident.get("birthdate", "")) if pseudo else ()
    target = StudyTarget(psid, subject, created, hide)
    target.folders = series_folders(project, psid)
    return target


def _study_or_none(project: Any, psid: str) -> dict[str, Any] | None:
    try:
        return project.study(psid)
    except NotFoundError:
        return None


def series_folders(project: Any, psid: str) -> dict[str, set[tuple[str, int | None]]]:
    """Series folders of a study that imported DICOM series occupy."""
    sid, _, stid = psid.partition("#")
    q = (sa.select(di.c.series_folder, di.c.series_uid, di.c.series_number).distinct()
         .join(t.studies, t.studies.c.id == di.c.study)
         .join(t.subjects, t.subjects.c.id == t.studies.c.subject)
         .where(di.c.project_id == project.pk, t.subjects.c.subject_id == sid,
                t.studies.c.study_id == stid))
    out: dict[str, set[tuple[str, int | None]]] = defaultdict(set)
    with _db.read(project.archive.engine) as conn:
        for r in conn.execute(q):
            out[r.series_folder].add((r.series_uid, r.series_number))
    return dict(out)


def pick_folder(target: StudyTarget, series: Series, wanted: str) -> str:
    """``wanted``, or ``wanted_2``, … if another series of the study holds it."""
    key = (series.series_uid, series.series_number)
    for folder, keys in target.folders.items():
        if key in keys:
            return folder
    name, n = wanted, 1
    while target.folders.get(name, {key}) != {key}:
        n += 1
        name = f"{wanted}_{n}"
    target.folders.setdefault(name, set()).add(key)
    return name


def record_instances(project: Any, psid: str, series: Series, folder: str,
                     instances: Iterable[Any] | None = None, *,
                     conn: sa.Connection | None = None, study_pk: int | None = None) -> None:
    """Remember the series' SOP instances (re-recording is a no-op).

    In its own transaction, or in the caller's (``conn``, with the study's ``study_pk``),
    e.g. the one that adds the series' files.
    """
    if conn is None:
        with _db.write(project.archive.engine) as own:
            return record_instances(project, psid, series, folder, instances, conn=own)
    if study_pk is None:
        sid, _, stid = psid.partition("#")
        study_pk = conn.execute(
            sa.select(t.studies.c.id).join(t.subjects, t.subjects.c.id == t.studies.c.subject)
            .where(t.studies.c.project_id == project.pk, t.subjects.c.subject_id == sid,
                   t.studies.c.study_id == stid)).scalar_one()
    rows = [{"project_id": project.pk, "sop_uid": i.sop_uid, "study": study_pk,
             "study_uid": i.study_uid, "series_uid": i.series_uid,
             "series_number": i.series_number, "series_folder": folder,
             "source": i.source[:2000]} for i in (instances or series.instances)]
    for k in range(0, len(rows), _CHUNK):
        _db.insert_ignore(conn, di, rows[k:k + _CHUNK])
    return None


def sweep_tmp(folder: Path) -> list[str]:
    """Remove the archive's temporary files (``.nora-tmp-*``) left in ``folder``.

    Called under the commit lock only, for series folders that only imports write.
    """
    from nora_lab.archive.layout import TMP_PREFIX

    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            if entry.name.startswith(TMP_PREFIX) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(entry.path)
    return removed


def dump_json(obj: Any) -> bytes:
    """Sidecar bytes, the way dcm2niix lays them out (tabs), stable across runs."""
    return (json.dumps(obj, indent="\t", ensure_ascii=False) + "\n").encode()

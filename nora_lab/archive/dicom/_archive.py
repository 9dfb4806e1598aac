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
           "resolve_study", "series_folders", "record_new_instances", "sweep_tmp"]

_CHUNK = 500


@dataclass(frozen=True)
class Known:
    """Where an already imported SOP instance was filed."""

    psid: str
    series_folder: str
    series_uid: str
    series_number: int | None
    source: str | None
    pixels: str | None = None  # fingerprint of the pixel data (None: filed before schema 4)


_KNOWN = (sa.select(di.c.sop_uid, di.c.series_folder, di.c.series_uid, di.c.series_number,
                   di.c.source, di.c.pixels, t.subjects.c.subject_id, t.studies.c.study_id)
          .join(t.studies, t.studies.c.id == di.c.study)
          .join(t.subjects, t.subjects.c.id == t.studies.c.subject))


def _known(r: Any) -> Known:
    return Known(f"{r.subject_id}#{r.study_id}", r.series_folder, r.series_uid,
                 r.series_number, r.source, r.pixels)


def _known_in(conn: sa.Connection, project: Any, column: sa.Column, values: Iterable[str]
              ) -> Iterator[tuple[str, Known]]:
    """(sop_uid, Known) of the project's recorded instances whose ``column`` is in ``values``,
    read in ``conn``'s transaction."""
    wanted = list(dict.fromkeys(values))
    for i in range(0, len(wanted), _CHUNK):
        for r in conn.execute(_KNOWN.where(di.c.project_id == project.pk,
                                           column.in_(wanted[i:i + _CHUNK]))):
            yield r.sop_uid, _known(r)


def _known_rows(project: Any, column: sa.Column, values: Iterable[str]
                ) -> Iterator[tuple[str, Known]]:
    """:func:`_known_in`, in a read transaction of its own."""
    with _db.read(project.archive.engine) as conn:
        yield from _known_in(conn, project, column, values)


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
    # the original ID: the archive derives an injective folder name from it
    if not pseudo:
        claim_legacy_subject(project, real_sid)
    subject = project.add_subject(real_sid, identity=ident or None, strict=True)
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


def claim_legacy_subject(project: Any, original: str) -> None:
    """Give a subject filed before schema 4 (no original ID recorded) the ``original`` ID
    whose old folder name it bears, so that later imports of that patient find it.

    Only the first original ID claims it: another ID that the old rule folded into the
    same folder name gets a subject of its own.
    """
    legacy = folder_safe(original, "")  # the folder name the import gave before
    if not legacy:
        return
    s = t.subjects
    with _db.write(project.archive.engine) as conn:
        if conn.execute(sa.select(s.c.id).where(s.c.project_id == project.pk,
                                                s.c.source_id == original)).first():
            return
        conn.execute(sa.update(s).where(s.c.project_id == project.pk, s.c.subject_id == legacy,
                                        s.c.source_id.is_(None)).values(source_id=original))


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
    mine = set(series.part_keys)
    for folder, keys in target.folders.items():
        if mine & keys:
            return folder
    name, n = wanted, 1
    while not target.folders.get(name, mine) <= mine:
        n += 1
        name = f"{wanted}_{n}"
    target.folders.setdefault(name, set()).update(mine)
    return name


class ImportedMeanwhile(Exception):
    """Instances of a series were recorded by another import after this one planned."""

    def __init__(self, where: dict[str, Known]):
        self.where = where
        k = next(iter(where.values()))
        super().__init__(f"{len(where)} instance(s) were imported by another import "
                         f"meanwhile, into {k.psid}/{k.series_folder}")


def recorded_in(conn: sa.Connection, project: Any, sop_uids: Iterable[str]) -> dict[str, Known]:
    """The instances among ``sop_uids`` recorded now, read in the caller's transaction."""
    return dict(_known_in(conn, project, di.c.sop_uid, sop_uids))


def record_new_instances(conn: sa.Connection, project: Any, study_pk: int, series: Series,
                         folder: str, instances: list[Any], expected: frozenset[str],
                         pixels: dict[str, str]) -> None:
    """Record a series' instances as its files commit, in their transaction.

    Re-checked now, not when the import planned: an instance that another import recorded
    meanwhile (not among ``expected``, those this import completes) raises
    :class:`ImportedMeanwhile`, so the series is not filed twice. The rows are plain
    INSERTs: where two transactions race past the check (PostgreSQL, READ COMMITTED), the
    database's unique key refuses the second.
    """
    taken = recorded_in(conn, project, (i.sop_uid for i in instances))
    others = {sop: k for sop, k in taken.items() if sop not in expected}
    if others:
        raise ImportedMeanwhile(others)
    rows = [{"project_id": project.pk, "sop_uid": i.sop_uid, "study": study_pk,
             "study_uid": i.study_uid, "series_uid": i.series_uid,
             "series_number": i.series_number, "series_folder": folder,
             "source": i.source[:2000], "pixels": pixels.get(i.sop_uid)}
            for i in instances if i.sop_uid not in taken]
    for k in range(0, len(rows), _CHUNK):
        conn.execute(sa.insert(di), rows[k:k + _CHUNK])


def drop_if_empty(project: Any, psid: str) -> bool:
    """Delete a study this import created but never filed into (it lost every race),
    and its subject if that has no other study. True if the study went."""
    sid, _, stid = psid.partition("#")
    s, sub, f = t.studies, t.subjects, t.files
    with _db.write(project.archive.engine) as conn:
        row = conn.execute(sa.select(s.c.id, s.c.subject).join(sub, sub.c.id == s.c.subject)
                           .where(s.c.project_id == project.pk, sub.c.subject_id == sid,
                                  s.c.study_id == stid)).first()
        if row is None or conn.execute(sa.select(f.c.id).where(f.c.study == row.id)
                                       .limit(1)).first() is not None:
            return False
        if conn.execute(sa.select(di.c.sop_uid).where(di.c.study == row.id).limit(1)).first():
            return False
        conn.execute(sa.delete(s).where(s.c.id == row.id))
        subject_gone = conn.execute(sa.select(s.c.id).where(s.c.subject == row.subject)
                                    .limit(1)).first() is None
        if subject_gone:
            conn.execute(sa.delete(sub).where(sub.c.id == row.subject))
    folder = project.root / sid / stid  # empty folders its temporary files left
    for d in [folder, folder.parent] if subject_gone else [folder]:
        for sub_dir, _, _ in sorted(os.walk(d), key=lambda w: -len(w[0])):
            with contextlib.suppress(OSError):
                os.rmdir(sub_dir)
    return True


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

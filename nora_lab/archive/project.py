"""A project: its subjects, studies, files and tags, seen by one user.

Studies are named by their PSID, ``"<subject_id>#<study_id>"`` (NORA's
``patients_id#studies_id``). File paths are given relative to the study folder
(``"<series folder>/<file>"``).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from nora_lab.archive import _db
from nora_lab.archive import _schema as t
from nora_lab.archive._files import FilesMixin
from nora_lab.archive._ids import check_id, split_psid
from nora_lab.archive._jsonstore import JsonStoreMixin
from nora_lab.archive._tags import TagsMixin
from nora_lab.archive._views import QueriesMixin
from nora_lab.errors import NotFoundError, PermissionDenied

if TYPE_CHECKING:
    from nora_lab.archive.archive import Archive

__all__ = ["Project", "ROLES", "split_psid"]

ROLES = ("reader", "editor", "admin")


class Project(FilesMixin, TagsMixin, QueriesMixin, JsonStoreMixin):
    """One project of an :class:`~nora_lab.archive.Archive`, seen by its user.

    Get one with ``archive.project(name)`` or ``archive.create_project(name)``.
    """

    def __init__(self, archive: Archive, pk: int, name: str, role: str, naming: str):
        self.archive = archive
        self.pk = pk
        self.name = name
        self.role = role
        self.naming = naming
        self.root = archive.root / name

    def __repr__(self) -> str:
        return f"<Project {self.name!r} ({self.naming}) as {self.archive.user!r}: {self.role}>"

    # --- rights --------------------------------------------------------------------------
    def _require(self, role: str, what: str) -> None:
        if ROLES.index(self.role) < ROLES.index(role):
            raise PermissionDenied(
                f"{what} in project {self.name!r} needs the {role} role; "
                f"user {self.archive.user!r} is {self.role}")

    @property
    def can_see_identity(self) -> bool:
        """May this user see real names/IDs? (always in a 'real' project)"""
        if self.naming == "real" or self.role == "admin":
            return True
        with _db.read(self.archive.engine) as conn:
            return bool(conn.execute(sa.select(t.rights.c.identity).where(
                t.rights.c.project_id == self.pk,
                t.rights.c.user_id == self.archive._user_pk)).scalar())

    @property
    def _engine(self) -> sa.Engine:
        return self.archive.engine

    # --- settings ------------------------------------------------------------------------
    @property
    def autoexec(self) -> str | None:
        """Name of the saved batch run on every newly imported study (NORA's autoexec)."""
        with _db.read(self._engine) as conn:
            return conn.execute(sa.select(t.projects.c.autoexec)
                                .where(t.projects.c.id == self.pk)).scalar()

    @autoexec.setter
    def autoexec(self, batch_name: str | None) -> None:
        self._require("admin", "setting the autoexec batch")
        with _db.write(self._engine) as conn:
            conn.execute(sa.update(t.projects).where(t.projects.c.id == self.pk)
                         .values(autoexec=batch_name))

    # --- subjects and studies -------------------------------------------------------------
    def add_subject(self, subject_id: str, *, meta: Mapping[str, Any] | None = None,
                    identity: Mapping[str, str] | None = None) -> str:
        """Register a subject (idempotent) and return its stored ID.

        In a pseudonymized project ``subject_id`` is the real patient ID: the subject is
        stored under a generated pseudonym, and the real ID (and ``identity``'s
        ``name``/``birthdate``) go into the identities table. Adding the same real ID
        again returns the same pseudonym.
        """
        self._require("editor", "adding a subject")
        ident = dict(identity or {})
        with _db.write(self._engine) as conn:
            if self.naming == "pseudonym":
                i, s = t.identities, t.subjects
                found = conn.execute(sa.select(s.c.subject_id).join(i, i.c.subject == s.c.id)
                                     .where(s.c.project_id == self.pk,
                                            i.c.real_id == str(subject_id))).scalar()
                if found:
                    return found
                while True:
                    stored = "P" + secrets.token_hex(4).upper()
                    if not conn.execute(sa.select(s.c.id).where(
                            s.c.project_id == self.pk, s.c.subject_id == stored)).first():
                        break
                ident.setdefault("id", str(subject_id))
            else:
                stored = check_id(str(subject_id), "subject id")
            _db.insert_ignore(conn, t.subjects, [{"project_id": self.pk, "subject_id": stored,
                                                  "meta": dict(meta) if meta else None}])
            pk = self._subject_pk(conn, stored)
            if ident:
                _db.insert_ignore(conn, t.identities, [{
                    "subject": pk, "real_id": ident.get("id"), "real_name": ident.get("name"),
                    "birthdate": ident.get("birthdate"),
                    "extra": {k: v for k, v in ident.items()
                              if k not in ("id", "name", "birthdate")} or None}])
            if meta:
                conn.execute(sa.update(t.subjects).where(t.subjects.c.id == pk)
                             .values(meta=dict(meta)))
        return stored

    def _subject_pk(self, conn: sa.Connection, subject_id: str) -> int:
        pk = conn.execute(sa.select(t.subjects.c.id).where(
            t.subjects.c.project_id == self.pk, t.subjects.c.subject_id == subject_id)).scalar()
        if pk is None:
            raise NotFoundError(f"no subject {subject_id!r} in project {self.name!r}")
        return pk

    def add_study(self, subject_id: str, study_id: str, *, date: str | None = None,
                  description: str | None = None, meta: Mapping[str, Any] | None = None) -> str:
        """Register a study of an existing subject (idempotent); return its PSID.

        ``date`` is ISO (``YYYY-MM-DD``; ``YYYYMMDD`` is accepted).
        """
        self._require("editor", "adding a study")
        check_id(study_id, "study id")
        if date and re.fullmatch(r"\d{8}", date):
            date = f"{date[:4]}-{date[4:6]}-{date[6:]}"
        with _db.write(self._engine) as conn:
            spk = self._subject_pk(conn, subject_id)
            _db.insert_ignore(conn, t.studies, [{
                "project_id": self.pk, "subject": spk, "study_id": study_id,
                "psid": f"{subject_id}#{study_id}", "date": date,
                "description": description, "meta": dict(meta) if meta else None}])
            values = {k: v for k, v in (("date", date), ("description", description),
                                        ("meta", dict(meta) if meta else None)) if v}
            if values:
                conn.execute(sa.update(t.studies).where(
                    t.studies.c.subject == spk, t.studies.c.study_id == study_id).values(**values))
        return f"{subject_id}#{study_id}"

    def _study_row(self, conn: sa.Connection, psid: str) -> sa.Row:
        split_psid(psid)
        s, sub = t.studies, t.subjects
        row = conn.execute(
            sa.select(s.c.id, s.c.subject, s.c.study_id, s.c.date, s.c.description, s.c.meta,
                      sub.c.subject_id)
            .join(sub, sub.c.id == s.c.subject)
            .where(s.c.project_id == self.pk, s.c.psid == psid)
        ).first()
        if row is None:
            raise NotFoundError(f"no study {psid!r} in project {self.name!r}")
        return row

    def study(self, psid: str) -> dict[str, Any]:
        """The study's row as a dict (psid, subject, study, date, description, meta, tags)."""
        with _db.read(self._engine) as conn:
            row = self._study_row(conn, psid)
            tags = sorted(conn.execute(sa.select(t.study_tags.c.tag).where(
                t.study_tags.c.study == row.id)).scalars())
        return {"psid": psid, "subject": row.subject_id, "study": row.study_id, "date": row.date,
                "description": row.description, "meta": row.meta or {}, "tags": tags}

    def study_dir(self, psid: str) -> Path:
        """Absolute folder of a study: ``<root>/<subject>/<study>``."""
        sid, stid = split_psid(psid)
        return self.root / check_id(sid, "subject id") / check_id(stid, "study id")

    def import_dicom(self, source: Any, **options: Any) -> Any:
        """Import DICOM (a folder, a zip or a list of files) into this project.

        See :func:`nora_lab.archive.dicom.import_dicom` for the options; returns its
        :class:`~nora_lab.archive.dicom.ImportReport`.
        """
        from nora_lab.archive.dicom import import_dicom

        return import_dicom(self, source, **options)

    def identity(self, subject_id: str) -> dict[str, Any]:
        """The real identity recorded for a subject (needs the identity right)."""
        if not self.can_see_identity:
            raise PermissionDenied(
                f"user {self.archive.user!r} may not see real identities in project {self.name!r}")
        i = t.identities
        with _db.read(self._engine) as conn:
            pk = self._subject_pk(conn, subject_id)
            row = conn.execute(sa.select(i).where(i.c.subject == pk)).first()
        if row is None:
            return {}
        return {"id": row.real_id, "name": row.real_name, "birthdate": row.birthdate,
                **(row.extra or {})}

    # --- files -----------------------------------------------------------------------------

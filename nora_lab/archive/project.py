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
from nora_lab.archive._ids import check_id, folder_id, split_psid
from nora_lab.archive._jsonstore import JsonStoreMixin
from nora_lab.archive._tags import TagsMixin
from nora_lab.archive._views import QueriesMixin
from nora_lab.errors import ArchiveError, NotFoundError, PermissionDenied, UnsafePathError

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
                    identity: Mapping[str, str] | None = None, strict: bool = False) -> str:
        """Register a subject (idempotent) and return its stored ID.

        ``subject_id`` is the ID as the outside world knows it (a DICOM PatientID). In a
        real project it is stored as given when it is a valid folder name, else under a
        derived name (:func:`~nora_lab.archive._ids.folder_id`: ``"12 34"`` →
        ``12_34_6dcd4ce2``); the original is kept, and adding it again finds the same
        subject. Different IDs never share a subject.

        In a pseudonymized project ``subject_id`` is the real patient ID: the subject is
        stored under a generated pseudonym, and the real ID (and ``identity``'s
        ``name``/``birthdate``) go into the identities table. Adding the same real ID
        again returns the same pseudonym, also when several processes add it at once (the
        database holds one pseudonym per real ID).

        Parameters
        ----------
        strict
            Match by the original ID only (the DICOM import), never by a stored folder
            name that happens to equal it.
        """
        self._require("editor", "adding a subject")
        ident = dict(identity or {})
        original = str(subject_id)
        if not original.strip() or len(original) > 400:
            raise UnsafePathError(f"subject id {original[:60]!r}: expected 1 to 400 characters")
        with _db.write(self._engine) as conn:
            if self.naming == "pseudonym":
                ident.setdefault("id", original)
                stored = self._pseudonym(conn, original, ident)
            else:
                stored = self._real_subject(conn, original, strict=strict)
                if ident:
                    _db.insert_ignore(conn, t.identities, [self._identity_row(
                        self._subject_pk(conn, stored), ident)])
            if meta:
                conn.execute(sa.update(t.subjects).where(
                    t.subjects.c.project_id == self.pk, t.subjects.c.subject_id == stored)
                    .values(meta=dict(meta)))
        return stored

    def _identity_row(self, subject_pk: int, ident: Mapping[str, Any]) -> dict[str, Any]:
        return {"subject": subject_pk, "project_id": self.pk, "real_id": ident.get("id"),
                "real_name": ident.get("name"), "birthdate": ident.get("birthdate"),
                "extra": {k: v for k, v in ident.items()
                          if k not in ("id", "name", "birthdate")} or None}

    def _find_subject(self, conn: sa.Connection, column: sa.Column, value: str) -> str | None:
        return conn.execute(sa.select(t.subjects.c.subject_id).where(
            t.subjects.c.project_id == self.pk, column == value)).scalar()

    def _insert_or_get(self, conn: sa.Connection, insert: Any, get: Any) -> str | None:
        """``insert()`` in a savepoint; on a unique violation (another writer was first,
        under READ COMMITTED or not) roll it back and return ``get()``."""
        try:
            with conn.begin_nested():
                return insert()
        except sa.exc.IntegrityError:
            return get()

    def _real_subject(self, conn: sa.Connection, original: str, *, strict: bool) -> str:
        s = t.subjects
        found = self._find_subject(conn, s.c.source_id, original)
        if found is None and not strict:
            found = self._find_subject(conn, s.c.subject_id, original)
        digits = 8
        while found is None:
            stored = folder_id(original, digits=digits, hashed=digits > 8)

            def insert(stored: str = stored) -> str:
                conn.execute(sa.insert(s).values(project_id=self.pk, subject_id=stored,
                                                 source_id=original))
                return stored

            found = self._insert_or_get(
                conn, insert, lambda: self._find_subject(conn, s.c.source_id, original))
            digits += 4  # the folder name belongs to another ID: a longer hash
            if digits > 40:
                raise ArchiveError(f"no free folder name for subject {original!r} in "
                                   f"project {self.name!r}")
        return found

    def _pseudonym(self, conn: sa.Connection, real_id: str, ident: Mapping[str, Any]) -> str:
        i, s = t.identities, t.subjects

        def get() -> str | None:
            if conn.dialect.name == "postgresql":  # also for editors who may not see it
                return conn.execute(sa.text("SELECT nora_pseudonym(:p, :r)"),
                                    {"p": self.pk, "r": real_id}).scalar()
            return conn.execute(sa.select(s.c.subject_id).join(i, i.c.subject == s.c.id)
                                .where(i.c.project_id == self.pk, i.c.real_id == real_id)
                                ).scalar()

        found = get()
        while found is None:
            stored = "P" + secrets.token_hex(4).upper()

            def insert(stored: str = stored) -> str:
                pk = conn.execute(sa.insert(s).values(project_id=self.pk, subject_id=stored)
                                  .returning(s.c.id)).scalar_one()
                conn.execute(sa.insert(i).values(self._identity_row(pk, ident)))
                return stored

            found = self._insert_or_get(conn, insert, get)  # None: the pseudonym was taken
        return found

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

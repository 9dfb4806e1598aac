"""A project: its subjects, studies, files and tags, seen by one user.

Studies are named by their PSID, ``"<subject_id>#<study_id>"`` (NORA's
``patients_id#studies_id``). File paths are given relative to the study folder
(``"<series folder>/<file>"``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

from nora_lab.archive import _db
from nora_lab.archive import _schema as t
from nora_lab.archive._query import Compiler
from nora_lab.archive.layout import TMP_PREFIX, inside, sha256, temp_beside
from nora_lab.archive.patterns import FilePattern, check_relpath
from nora_lab.errors import (
    AlreadyExistsError,
    ArchiveError,
    NotFoundError,
    PermissionDenied,
    UnsafePathError,
)

if TYPE_CHECKING:
    from nora_lab.archive.archive import Archive

__all__ = ["Project", "ROLES", "split_psid"]

ROLES = ("reader", "editor", "admin")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=@,-]{0,199}$")


def split_psid(psid: str) -> tuple[str, str]:
    """``"P001#S1"`` → ``("P001", "S1")``."""
    sid, sep, stid = str(psid).partition("#")
    if not sep or not sid or not stid:
        raise NotFoundError(f"study {psid!r}: expected a PSID '<subject_id>#<study_id>'")
    return sid, stid


def _check_id(value: str, what: str) -> str:
    if not _ID_RE.match(value or ""):
        raise UnsafePathError(
            f"{what} {value!r}: use letters, digits and . _ + = @ , - (it names a folder)")
    return value


def _split_rel(relpath: str) -> tuple[str, str]:
    series, _, name = relpath.rpartition("/")
    return series, name


def _sidecar_of(src: Path) -> Path | None:
    name = src.name
    for ext in (".nii.gz", ".nii", ".mgz", ".mgh", ".nrrd", ".nhdr"):
        if name.lower().endswith(ext):
            cand = src.with_name(name[: -len(ext)] + ".json")
            return cand if cand.exists() else None
    return None


def _guess_filetype(path: Path) -> str:
    try:
        from nora_lab.archive.filetypes import filetype
    except ImportError:  # the DICOM-import layer ships the content sniffer
        return "other"
    return filetype(path)


class Project:
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
                stored = _check_id(str(subject_id), "subject id")
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
        _check_id(study_id, "study id")
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
        return self.root / _check_id(sid, "subject id") / _check_id(stid, "study id")

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
    def add_file(self, src: str | os.PathLike, psid: str, relpath: str, *,
                 tags: Iterable[str] = (), meta: Mapping[str, Any] | None = None,
                 move: bool = False, overwrite: bool = False) -> Path:
        """Copy (or move) a file into a study atomically and register it.

        Parameters
        ----------
        src
            The file to add.
        psid
            The study, ``"<subject>#<study>"``; it must exist (:meth:`add_study`).
        relpath
            Where it goes inside the study folder, e.g. ``"3_t1/t1.nii.gz"``.
        tags
            File tags to add.
        meta
            Per-file metadata; by default the JSON sidecar next to ``src`` (same stem,
            ``.json``) if there is one.
        move
            Move instead of copy.
        overwrite
            Replace an existing file of that name (else re-adding identical content is
            a no-op and different content raises).

        Returns
        -------
        Path
            The absolute path of the file in the archive.

        Raises
        ------
        UnsafePathError
            If ``relpath`` would leave the study folder.
        AlreadyExistsError
            If a different file of that name exists and ``overwrite`` is false.
        """
        self._require("editor", "adding a file")
        src = Path(src)
        if not src.is_file():
            raise NotFoundError(f"cannot add {src}: no such file")
        if meta is None and (sc := _sidecar_of(src)) is not None:
            try:
                meta = json.loads(sc.read_text())
            except (ValueError, OSError) as exc:
                raise ArchiveError(f"{sc}: sidecar is not valid JSON ({exc})") from exc

        def place(tmp: Path) -> None:
            if move:
                try:
                    os.link(src, tmp)
                except OSError:
                    shutil.copyfile(src, tmp)
            else:
                shutil.copyfile(src, tmp)

        dest = self._store(psid, relpath, place, tags=tags, meta=meta, overwrite=overwrite)
        if move and src.exists() and src.resolve() != dest:
            src.unlink()
        return dest

    def add_bytes(self, data: bytes, psid: str, relpath: str, *, tags: Iterable[str] = (),
                  meta: Mapping[str, Any] | None = None, overwrite: bool = False) -> Path:
        """Write bytes as a file of the study (atomically) and register it."""
        self._require("editor", "adding a file")
        return self._store(psid, relpath, lambda tmp: tmp.write_bytes(data), tags=tags,
                           meta=meta, overwrite=overwrite)

    def add_json(self, obj: Any, psid: str, relpath: str, *, tags: Iterable[str] = (),
                 overwrite: bool = True) -> Path:
        """Write a JSON document into the study (e.g. ``annotations/points.json``)."""
        data = json.dumps(obj, indent=1, sort_keys=True).encode()
        return self.add_bytes(data, psid, relpath, tags=tags, overwrite=overwrite)

    def add_image(self, img: Any, psid: str, relpath: str, *, tags: Iterable[str] = (),
                  meta: Mapping[str, Any] | None = None, overwrite: bool = False) -> Path:
        """Save a nibabel image into the study (atomically; format from the file name)."""
        import nibabel as nib

        self._require("editor", "adding an image")
        suffix = "".join(Path(relpath).suffixes[-2:]) or ".nii.gz"

        def place(tmp: Path) -> None:
            # nibabel picks the format from the extension: save under it, then rename
            real = tmp.with_name(tmp.name + suffix)
            nib.save(img, real)
            os.replace(real, tmp)

        return self._store(psid, relpath, place, tags=tags, meta=meta, overwrite=overwrite)

    def _store(self, psid: str, relpath: str, place, *, tags: Iterable[str],
               meta: Mapping[str, Any] | None, overwrite: bool) -> Path:
        relpath = check_relpath(relpath, what="file name")
        study_dir = self.study_dir(psid)
        dest = inside(study_dir, relpath)
        series, name = _split_rel(relpath)
        tags = _clean_tags(tags)
        with _db.read(self._engine) as conn:
            srow = self._study_row(conn, psid)
        with temp_beside(dest) as tmp:
            place(tmp)
            digest = sha256(tmp)
            size = tmp.stat().st_size
            ftype = _guess_filetype(tmp) if not name.lower().endswith(".json") else "json"
            f = t.files
            with _db.write(self._engine) as conn:
                existing = conn.execute(sa.select(f.c.id, f.c.sha256).where(
                    f.c.study == srow.id, f.c.series == series, f.c.name == name)).first()
                if existing is not None and not overwrite:
                    if existing.sha256 != digest:
                        raise AlreadyExistsError(
                            f"{dest} exists with different content (pass overwrite=True)")
                    fid = existing.id  # same content again: nothing to do but the tags
                else:
                    values = {"project_id": self.pk, "study": srow.id, "series": series,
                              "name": name, "path_lc": relpath.lower(), "filetype": ftype,
                              "size": size, "sha256": digest,
                              "meta": dict(meta) if meta else None}
                    if existing is not None:
                        conn.execute(sa.update(f).where(f.c.id == existing.id).values(**values))
                        fid = existing.id
                    else:
                        fid = conn.execute(sa.insert(f).values(**values)
                                           .returning(f.c.id)).scalar_one()
                    os.replace(tmp, dest)  # the file takes its name inside the transaction
                _db.insert_ignore(conn, t.file_tags, [{"file": fid, "tag": g} for g in tags])
        return dest

    def _locate(self, path: str | os.PathLike) -> tuple[str, str]:
        """An absolute archive path → (psid, relpath)."""
        p = Path(path).resolve() if os.path.isabs(path) else None
        root = self.root.resolve()
        if p is None or root not in p.parents:
            raise NotFoundError(f"{path}: not a file of project {self.name!r} (under {root})")
        parts = p.relative_to(root).parts
        if len(parts) < 3:
            raise NotFoundError(f"{path}: expected <root>/<subject>/<study>/<file>")
        return f"{parts[0]}#{parts[1]}", "/".join(parts[2:])

    def _file_ids(self, conn: sa.Connection, targets: Iterable[str | int | os.PathLike]) -> list[int]:
        ids = []
        f = t.files
        for x in targets:
            if isinstance(x, int):
                ids.append(x)
                continue
            psid, rel = self._locate(x)
            srow = self._study_row(conn, psid)
            series, name = _split_rel(rel)
            fid = conn.execute(sa.select(f.c.id).where(
                f.c.study == srow.id, f.c.series == series, f.c.name == name)).scalar()
            if fid is None:
                raise NotFoundError(f"{x}: not registered in project {self.name!r}")
            ids.append(fid)
        return ids

    def remove_file(self, target: str | os.PathLike | int, relpath: str | None = None) -> None:
        """Delete one file and its row: ``remove_file(abs_path)`` or ``(psid, relpath)``."""
        self._require("editor", "deleting a file")
        if relpath is not None:
            target = self.study_dir(str(target)) / check_relpath(relpath)
        with _db.write(self._engine) as conn:
            (fid,) = self._file_ids(conn, [target])
            row = conn.execute(sa.select(t.files.c.study, t.files.c.series, t.files.c.name)
                               .where(t.files.c.id == fid)).one()
            conn.execute(sa.delete(t.files).where(t.files.c.id == fid))
            path = self._abs_path(conn, row.study, row.series, row.name)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _abs_path(self, conn: sa.Connection, study_pk: int, series: str, name: str) -> Path:
        s, sub = t.studies, t.subjects
        r = conn.execute(sa.select(sub.c.subject_id, s.c.study_id).join(
            sub, sub.c.id == s.c.subject).where(s.c.id == study_pk)).one()
        return self.root / r.subject_id / r.study_id / (f"{series}/{name}" if series else name)

    def delete_study(self, psid: str) -> None:
        """Delete a study: its rows and its folder, together."""
        self._require("editor", "deleting a study")
        with _db.read(self._engine) as conn:
            pk = self._study_row(conn, psid).id
        self._delete_tree(self.study_dir(psid), t.studies, pk)

    def delete_subject(self, subject_id: str) -> None:
        """Delete a subject with all its studies, rows and folders."""
        self._require("editor", "deleting a subject")
        with _db.read(self._engine) as conn:
            pk = self._subject_pk(conn, subject_id)
        self._delete_tree(self.root / _check_id(subject_id, "subject id"), t.subjects, pk)

    def _delete_tree(self, folder: Path | None, table: sa.Table | None = None,
                     pk: int | None = None) -> None:
        """Move ``folder`` aside, delete the rows, then the folder (or move it back)."""
        folder = folder or self.root
        trash = None
        if folder.exists():
            trash = folder.parent / f"{TMP_PREFIX}trash-{uuid.uuid4().hex}"
            os.rename(folder, trash)
        try:
            if table is not None:
                with _db.write(self._engine) as conn:
                    conn.execute(sa.delete(table).where(table.c.id == pk))
        except BaseException:
            if trash is not None:
                os.rename(trash, folder)
            raise
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)

    # --- tags ------------------------------------------------------------------------------
    def tag_files(self, targets: Iterable[str | int | os.PathLike], tags: Iterable[str]) -> None:
        """Add tags to files given by absolute path or file id."""
        self._require("editor", "tagging files")
        tags = _clean_tags(tags)
        with _db.write(self._engine) as conn:
            ids = self._file_ids(conn, targets)
            _db.insert_ignore(conn, t.file_tags, [{"file": i, "tag": g} for i in ids for g in tags])

    def untag_files(self, targets: Iterable[str | int | os.PathLike], tags: Iterable[str]) -> None:
        """Remove tags from files."""
        self._require("editor", "untagging files")
        with _db.write(self._engine) as conn:
            ids = self._file_ids(conn, targets)
            conn.execute(sa.delete(t.file_tags).where(t.file_tags.c.file.in_(ids),
                                                      t.file_tags.c.tag.in_(_clean_tags(tags))))

    def tag_study(self, psid: str, tags: Iterable[str]) -> None:
        self._require("editor", "tagging a study")
        with _db.write(self._engine) as conn:
            pk = self._study_row(conn, psid).id
            _db.insert_ignore(conn, t.study_tags, [{"study": pk, "tag": g} for g in _clean_tags(tags)])

    def untag_study(self, psid: str, tags: Iterable[str]) -> None:
        self._require("editor", "untagging a study")
        with _db.write(self._engine) as conn:
            pk = self._study_row(conn, psid).id
            conn.execute(sa.delete(t.study_tags).where(t.study_tags.c.study == pk,
                                                       t.study_tags.c.tag.in_(_clean_tags(tags))))

    def tag_subject(self, subject_id: str, tags: Iterable[str]) -> None:
        self._require("editor", "tagging a subject")
        with _db.write(self._engine) as conn:
            pk = self._subject_pk(conn, subject_id)
            _db.insert_ignore(conn, t.subject_tags,
                              [{"subject": pk, "tag": g} for g in _clean_tags(tags)])

    def untag_subject(self, subject_id: str, tags: Iterable[str]) -> None:
        self._require("editor", "untagging a subject")
        with _db.write(self._engine) as conn:
            pk = self._subject_pk(conn, subject_id)
            conn.execute(sa.delete(t.subject_tags).where(
                t.subject_tags.c.subject == pk, t.subject_tags.c.tag.in_(_clean_tags(tags))))

    # --- queries ---------------------------------------------------------------------------
    def _compiler(self, level: str, conn: sa.Connection | None = None) -> Compiler:
        return Compiler(level, self.archive.dialect, name_visible=self.can_see_identity,
                        conn=conn, project_pk=self.pk)

    def _studies_select(self, filters, conn: sa.Connection | None = None) -> sa.Select:
        s, sub = t.studies, t.subjects
        conds = self._compiler("study", conn).filters(filters)
        return (sa.select(s.c.id, s.c.psid, sub.c.subject_id.label("subject"),
                          s.c.study_id.label("study"), s.c.date, s.c.description)
                .join(sub, sub.c.id == s.c.subject)
                .where(s.c.project_id == self.pk, *conds))

    def studies(self, filters: Mapping[str, str] | str | None = None, *, limit: int | None = None,
                offset: int = 0, order_by: str = "psid") -> pd.DataFrame:
        """Studies matching the filter bars, one row each.

        Parameters
        ----------
        filters
            ``{column: filter-bar text}`` with columns ``subject``, ``study``, ``date``,
            ``description``, ``name`` (identity right needed) and ``files`` (the file-search
            bar); a plain string is the file-search bar.
        limit, offset
            Paging. Count with :meth:`count_studies`.
        order_by
            ``"psid"``, ``"date"`` or ``"created"``.

        Returns
        -------
        pandas.DataFrame
            Columns ``psid, subject, study, date, description, tags``.
        """
        s = t.studies
        order = {"psid": (s.c.psid,), "date": (s.c.date, s.c.psid),
                 "created": (s.c.id,)}[order_by]
        with _db.read(self._engine) as conn:
            q = self._studies_select(filters, conn).order_by(*order).offset(offset)
            if limit is not None:
                q = q.limit(limit)
            df = pd.read_sql(q, conn)
            tags = _tags_by(conn, t.study_tags, "study", df["id"].tolist())
        df["tags"] = [tags.get(i, []) for i in df["id"]]
        return df.drop(columns=["id"])

    def count_studies(self, filters: Mapping[str, str] | str | None = None) -> int:
        """How many studies match (for the table's "n of N")."""
        with _db.read(self._engine) as conn:
            sel = self._studies_select(filters, conn).subquery()
            return int(conn.execute(sa.select(sa.func.count()).select_from(sel)).scalar_one())

    def subjects(self, filters: Mapping[str, str] | str | None = None, *,
                 limit: int | None = None, offset: int = 0) -> pd.DataFrame:
        """Subjects matching the filter bars: ``subject, n_studies, tags`` (+ ``name``)."""
        sub, s = t.subjects, t.studies
        show_names = self.can_see_identity
        with _db.read(self._engine) as conn:
            conds = self._compiler("subject", conn).filters(filters)
            n = sa.select(sa.func.count()).where(s.c.subject == sub.c.id).scalar_subquery()
            q = (sa.select(sub.c.id, sub.c.subject_id.label("subject"), n.label("n_studies"))
                 .where(sub.c.project_id == self.pk, *conds).order_by(sub.c.subject_id)
                 .offset(offset))
            if limit is not None:
                q = q.limit(limit)
            df = pd.read_sql(q, conn)
            tags = _tags_by(conn, t.subject_tags, "subject", df["id"].tolist())
            if show_names:
                names = dict(conn.execute(sa.select(t.identities.c.subject, t.identities.c.real_name)
                                          .where(t.identities.c.subject.in_(df["id"].tolist()))).all())
        df["tags"] = [tags.get(i, []) for i in df["id"]]
        if show_names:
            df["name"] = [names.get(i) for i in df["id"]]
        return df.drop(columns=["id"])

    def files(self, pattern: str | None = None, *, psid: str | None = None,
              filters: Mapping[str, str] | str | None = None, tags: Sequence[str] | None = None,
              meta_keys: Sequence[str] = (), limit: int | None = None) -> pd.DataFrame:
        """Files matching a file pattern, one row each.

        Parameters
        ----------
        pattern
            A file pattern (``"t1*/s0*.nii"``); None for every file.
        psid
            Only this study.
        filters
            Only studies matching these filter bars (as in :meth:`studies`).
        tags
            Only files having all these tags.
        meta_keys
            Keys of the per-file JSON metadata (sidecar) to add as columns.

        Returns
        -------
        pandas.DataFrame
            ``path`` (absolute), ``psid, relpath, series, name, filetype, size, tags``
            and one column per meta key.
        """
        f, s, sub = t.files, t.studies, t.subjects
        q = (sa.select(f.c.id, f.c.series, f.c.name, f.c.filetype, f.c.size, f.c.meta,
                       sub.c.subject_id, s.c.study_id)
             .join(s, s.c.id == f.c.study).join(sub, sub.c.id == s.c.subject)
             .where(f.c.project_id == self.pk))
        if psid is not None:
            split_psid(psid)
            q = q.where(s.c.psid == psid)
        for tag in tags or ():
            q = q.where(sa.exists(sa.select(sa.literal(1)).where(
                t.file_tags.c.file == f.c.id, t.file_tags.c.tag == tag)))
        with _db.read(self._engine) as conn:
            if pattern:
                pat = FilePattern(pattern)
                rare = psid is None and pat.estimate(conn, self.pk, Compiler.RARE) < Compiler.RARE
                q = q.where(pat.condition(f.c.path_lc, f.c.id, self.archive.dialect, trigram=rare))
            if filters:
                q = q.where(s.c.id.in_(sa.select(self._studies_select(filters, conn)
                                                 .subquery().c.id)))
            q = q.order_by(f.c.study, f.c.path_lc)  # the (study, path) index: no sort
            if limit is not None:
                q = q.limit(limit)
            rows = conn.execute(q).all()
            ftags = _tags_by(conn, t.file_tags, "file", [r.id for r in rows])
        recs = []
        for r in rows:
            rel = f"{r.series}/{r.name}" if r.series else r.name
            rec = {"path": str(self.root / r.subject_id / r.study_id / rel),
                   "psid": f"{r.subject_id}#{r.study_id}", "relpath": rel, "series": r.series,
                   "name": r.name, "filetype": r.filetype, "size": r.size,
                   "tags": ftags.get(r.id, [])}
            meta = r.meta or {}
            for k in meta_keys:
                rec[k] = meta.get(k)
            recs.append(rec)
        cols = ["path", "psid", "relpath", "series", "name", "filetype", "size", "tags", *meta_keys]
        return pd.DataFrame.from_records(recs, columns=cols)

    def file_meta(self, path: str | os.PathLike) -> dict[str, Any]:
        """The JSON metadata stored for one file."""
        with _db.read(self._engine) as conn:
            (fid,) = self._file_ids(conn, [path])
            return conn.execute(sa.select(t.files.c.meta).where(t.files.c.id == fid)).scalar() or {}

    # --- file patterns per study (the batch layer) -----------------------------------------
    def resolve(self, psid: str, pattern: str) -> list[Path]:
        """Absolute paths of the study's files matching a file pattern, sorted."""
        return [Path(p) for p in self.files(pattern, psid=psid)["path"]]

    def out_path(self, psid: str, relpath: str) -> Path:
        """The absolute path an output ``relpath`` of the study will have (no wildcards).

        Raises
        ------
        UnsafePathError
            If ``relpath`` has wildcards or would leave the study folder.
        """
        if "*" in relpath:
            raise UnsafePathError(f"output {relpath!r}: wildcards are not allowed in OUT names")
        rel = check_relpath(relpath, what="output name")
        with _db.read(self._engine) as conn:
            self._study_row(conn, psid)
        return inside(self.study_dir(psid), rel)

    def register(self, path: str | os.PathLike, *, tags: Iterable[str] = (),
                 meta: Mapping[str, Any] | None = None) -> Path:
        """Register a file that a job already wrote inside a study folder."""
        self._require("editor", "registering a file")
        psid, rel = self._locate(path)
        src = Path(path)
        if not src.is_file():
            raise NotFoundError(f"cannot register {src}: no such file")
        data_path = src

        def place(tmp: Path) -> None:
            os.link(data_path, tmp)  # same folder: a hard link, then renamed onto itself

        return self._store(psid, rel, place, tags=tags, meta=meta, overwrite=True)

    # --- JSON store --------------------------------------------------------------------------
    def put_json(self, kind: str, name: str, obj: Any) -> None:
        """Save a JSON document of a kind (``batch``, ``autoloader``, ``share`` …) by name."""
        self._require("editor", f"saving a {kind}")
        j = t.json_store
        with _db.write(self._engine) as conn:
            conn.execute(sa.delete(j).where(j.c.project_id == self.pk, j.c.kind == kind,
                                            j.c.name == name))
            conn.execute(sa.insert(j).values(project_id=self.pk, kind=kind, name=name,
                                             user_name=self.archive.user, content=obj))

    def get_json(self, kind: str, name: str) -> Any:
        j = t.json_store
        with _db.read(self._engine) as conn:
            row = conn.execute(sa.select(j.c.content).where(
                j.c.project_id == self.pk, j.c.kind == kind, j.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no {kind} named {name!r} in project {self.name!r}")
        return row.content

    def list_json(self, kind: str) -> pd.DataFrame:
        j = t.json_store
        with _db.read(self._engine) as conn:
            return pd.read_sql(sa.select(j.c.name, j.c.user_name.label("user"), j.c.modified)
                               .where(j.c.project_id == self.pk, j.c.kind == kind)
                               .order_by(j.c.name), conn)

    def delete_json(self, kind: str, name: str) -> None:
        self._require("editor", f"deleting a {kind}")
        j = t.json_store
        with _db.write(self._engine) as conn:
            conn.execute(sa.delete(j).where(j.c.project_id == self.pk, j.c.kind == kind,
                                            j.c.name == name))


def _clean_tags(tags: Iterable[str]) -> list[str]:
    if isinstance(tags, str):
        tags = tags.split(",")
    out = []
    for g in tags:
        g = str(g).strip()
        if g and g not in out:
            out.append(g)
    return out


def _tags_by(conn: sa.Connection, table: sa.Table, col: str, ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for k, tag in conn.execute(sa.select(table.c[col], table.c.tag)
                                   .where(table.c[col].in_(chunk)).order_by(table.c.tag)):
            out.setdefault(k, []).append(tag)
    return out

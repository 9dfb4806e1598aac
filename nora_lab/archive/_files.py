"""Files of a project: atomic adds, registration, deletion (a mixin of :class:`Project`).

Every write goes to a temporary name in the target folder; the rename onto the real name
happens inside the transaction that adds the row, so rows and files commit together.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from nora_lab.archive import _db
from nora_lab.archive import _schema as t
from nora_lab.archive._ids import check_id
from nora_lab.archive._tags import clean_tags
from nora_lab.archive.journal import FileTransaction
from nora_lab.archive.layout import inside, sha256, temp_beside
from nora_lab.archive.patterns import check_relpath
from nora_lab.errors import AlreadyExistsError, ArchiveError, NotFoundError


@dataclass(frozen=True)
class NewFile:
    """One file for :meth:`FilesMixin.add_files`: from ``src`` (copied, or moved with
    ``move=True``) or from ``data``, to ``relpath`` inside the study."""

    relpath: str
    src: str | os.PathLike[str] | None = None
    data: bytes | None = None
    meta: Mapping[str, Any] | None = None
    tags: Iterable[str] = ()
    move: bool = False


def _placer(nf: NewFile) -> Any:
    """A ``place(tmp)`` writing ``nf``'s content (a hard link when moving)."""
    if nf.data is not None:
        data = nf.data
        return lambda tmp: tmp.write_bytes(data)
    src = Path(nf.src)  # type: ignore[arg-type]

    def place(tmp: Path) -> None:
        if nf.move:
            try:
                os.link(src, tmp)
                return
            except OSError:
                pass
        shutil.copyfile(src, tmp)

    return place


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


class FilesMixin:
    """Adding, registering and deleting files."""

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

        place = _placer(NewFile(relpath, src=src, move=move))
        dest = self._store(psid, relpath, place, tags=tags, meta=meta, overwrite=overwrite)
        if move and src.exists() and src.resolve() != dest:
            src.unlink()
        return dest

    def add_bytes(self, data: bytes, psid: str, relpath: str, *, tags: Iterable[str] = (),
                  meta: Mapping[str, Any] | None = None, overwrite: bool = False) -> Path:
        """Write bytes as a file of the study (atomically) and register it."""
        self._require("editor", "adding a file")
        return self._store(psid, relpath, _placer(NewFile(relpath, data=data)), tags=tags,
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

    def add_files(self, psid: str, files: Iterable[NewFile], *,
                  overwrite: bool = False) -> list[Path]:
        """Add several files to one study in one transaction: all of them or none.

        Parameters
        ----------
        psid
            The study, ``"<subject>#<study>"``.
        files
            What to add (:class:`NewFile`: a source file or bytes, where, metadata, tags).
        overwrite
            Replace existing files of those names.

        Returns
        -------
        list of Path
            The files' absolute paths in the archive, in order.

        Raises
        ------
        AlreadyExistsError
            If a different file of one of the names exists and ``overwrite`` is false
            (nothing is added then).

        Examples
        --------
        >>> proj.add_files("S1#1", [NewFile("t1/t1.nii.gz", src="t1.nii.gz"),
        ...                         NewFile("t1/t1.json", data=b"{}")])  # doctest: +SKIP
        """
        return self._add_files(psid, files, overwrite=overwrite)

    def _add_files(self, psid: str, files: Iterable[NewFile], *, overwrite: bool,
                   then: Any = None) -> list[Path]:
        """:meth:`add_files`; ``then(conn, study_pk)`` runs inside its transaction."""
        self._require("editor", "adding files")
        files = list(files)
        entries = []
        for nf in files:
            if nf.src is None and nf.data is None:
                raise ValueError(f"NewFile({nf.relpath!r}) needs src or data")
            if nf.src is not None and not Path(nf.src).is_file():
                raise NotFoundError(f"cannot add {nf.src}: no such file")
            entries.append((nf.relpath, _placer(nf), nf.tags, nf.meta))
        dests = self._store_many(psid, entries, overwrite=overwrite, then=then)
        for nf, dest in zip(files, dests, strict=True):
            if nf.move and nf.src is not None and Path(nf.src).exists() \
                    and Path(nf.src).resolve() != dest:
                Path(nf.src).unlink()
        return dests

    def _store(self, psid: str, relpath: str, place, *, tags: Iterable[str],
               meta: Mapping[str, Any] | None, overwrite: bool) -> Path:
        return self._store_many(psid, [(relpath, place, tags, meta)], overwrite=overwrite)[0]

    def _store_many(self, psid: str, entries: list[tuple[str, Any, Iterable[str], Any]], *,
                    overwrite: bool, then: Any = None) -> list[Path]:
        """Place each ``(relpath, place, tags, meta)`` under a temporary name, then add
        all rows and rename all files in one write transaction (``then(conn, study_pk)``
        runs inside it too)."""
        for attempt in range(3):
            try:
                return self._store_in_study(psid, entries, overwrite=overwrite, then=then)
            except (sa.exc.IntegrityError, FileNotFoundError, NotFoundError):
                # another writer got in between: the study deleted (its row, or its folder
                # moved aside), deleted and made again, or the same name added meanwhile
                with _db.read(self._engine) as conn:
                    try:
                        self._study_row(conn, psid)
                    except NotFoundError:
                        raise NotFoundError(
                            f"study {psid!r} of project {self.name!r} was deleted while "
                            "files were being added to it") from None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _store_in_study(self, psid: str, entries: list[tuple[str, Any, Iterable[str], Any]],
                        *, overwrite: bool, then: Any) -> list[Path]:
        study_dir = self.study_dir(psid)
        with _db.read(self._engine) as conn:
            srow = self._study_row(conn, psid)
        files = FileTransaction(self.root)
        with contextlib.ExitStack() as stack:
            staged = []
            for relpath, place, tags, meta in entries:
                relpath = check_relpath(relpath, what="file name")
                dest = inside(study_dir, relpath)
                if dest.is_dir():
                    raise AlreadyExistsError(
                        f"cannot add {relpath!r} to study {psid}: {dest} is a folder")
                series, name = _split_rel(relpath)
                tmp = stack.enter_context(temp_beside(dest))
                place(tmp)
                ftype = _guess_filetype(tmp) if not name.lower().endswith(".json") else "json"
                staged.append((dest, tmp, series, name, relpath, clean_tags(tags), meta,
                               sha256(tmp), tmp.stat().st_size, ftype))
            with files:
                self._write_rows(srow.id, staged, files, overwrite=overwrite, then=then)
        return [s[0] for s in staged]

    def _write_rows(self, study_pk: int, staged: list[tuple], files: FileTransaction, *,
                    overwrite: bool, then: Any) -> None:
        """The rows of :meth:`_store_many`; the files take their names (``files.apply``)
        last, inside the transaction."""
        f = t.files
        with _db.write(self._engine) as conn:
            present = {}
            for series in {s[2] for s in staged}:
                names = [s[3] for s in staged if s[2] == series]
                for r in conn.execute(sa.select(f.c.id, f.c.sha256, f.c.name).where(
                        f.c.study == study_pk, f.c.series == series, f.c.name.in_(names))):
                    present[(series, r.name)] = r
            for dest, tmp, series, name, relpath, tags, meta, digest, size, ftype in staged:
                existing = present.get((series, name))
                if existing is not None and not overwrite:
                    if existing.sha256 != digest:
                        raise AlreadyExistsError(
                            f"{dest} exists with different content (pass overwrite=True)")
                    fid = existing.id  # same content again: nothing to do but the tags
                else:
                    values = {"project_id": self.pk, "study": study_pk, "series": series,
                              "name": name, "path_lc": relpath.lower(), "filetype": ftype,
                              "size": size, "sha256": digest,
                              "meta": dict(meta) if meta else None}
                    if existing is not None:
                        conn.execute(sa.update(f).where(f.c.id == existing.id)
                                     .values(**values))
                        fid = existing.id
                    else:
                        fid = conn.execute(sa.insert(f).values(**values)
                                           .returning(f.c.id)).scalar_one()
                    files.put(tmp, dest, digest)
                _db.insert_ignore(conn, t.file_tags,
                                  [{"file": fid, "tag": g} for g in tags])
            if then is not None:
                then(conn, study_pk)
            files.apply()  # the files take their names inside the transaction

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
        with FileTransaction(self.root) as files, _db.write(self._engine) as conn:
            (fid,) = self._file_ids(conn, [target])
            row = conn.execute(sa.select(t.files.c.study, t.files.c.series, t.files.c.name)
                               .where(t.files.c.id == fid)).first()
            if row is None or conn.execute(sa.delete(t.files).where(t.files.c.id == fid)
                                           ).rowcount == 0:
                raise NotFoundError(f"{target}: deleted by another user or process meanwhile")
            path = self._abs_path(conn, row.study, row.series, row.name)
            if path.exists() or path.is_symlink():
                files.remove(path)
            files.apply()

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
        self._delete_tree(self.root / check_id(subject_id, "subject id"), t.subjects, pk)

    def _delete_tree(self, folder: Path, table: sa.Table, pk: int) -> None:
        """Delete the rows and the folder together (the folder is moved aside first, and
        back if the rows stay)."""
        with FileTransaction(self.root) as files, _db.write(self._engine) as conn:
            conn.execute(sa.delete(table).where(table.c.id == pk))
            if folder.exists():
                files.remove_tree(folder)
            files.apply()

    def file_meta(self, path: str | os.PathLike) -> dict[str, Any]:
        """The JSON metadata stored for one file."""
        with _db.read(self._engine) as conn:
            (fid,) = self._file_ids(conn, [path])
            return conn.execute(sa.select(t.files.c.meta).where(t.files.c.id == fid)).scalar() or {}

    def register(self, path: str | os.PathLike, *, tags: Iterable[str] = (),
                 meta: Mapping[str, Any] | None = None) -> Path:
        """Register a file that a job already wrote inside a study folder."""
        self._require("editor", "registering a file")
        psid, rel = self._locate(path)
        rel = check_relpath(rel, what="file name")
        src = Path(path)
        if not src.is_file():
            raise NotFoundError(f"cannot register {src}: no such file")
        data_path = src

        def place(tmp: Path) -> None:
            os.link(data_path, tmp)  # same folder: a hard link, then renamed onto itself

        return self._store(psid, rel, place, tags=tags, meta=meta, overwrite=True)

    def _journal_committed(self, op: Mapping[str, Any]) -> bool:
        """Did the transaction of a journal entry commit? (see :mod:`.journal`)"""
        parts = Path(op["dest"]).parts
        s, sub, f = t.studies, t.subjects, t.files
        with _db.read(self._engine) as conn:
            if op["kind"] == "rmtree":
                q = sa.select(sub.c.id).where(sub.c.project_id == self.pk,
                                              sub.c.subject_id == parts[0])
                if len(parts) > 1:
                    q = sa.select(s.c.id).join(sub, sub.c.id == s.c.subject).where(
                        s.c.project_id == self.pk, sub.c.subject_id == parts[0],
                        s.c.study_id == parts[1])
                return conn.execute(q).first() is None
            series, name = _split_rel("/".join(parts[2:]))
            digest = conn.execute(
                sa.select(f.c.sha256).join(s, s.c.id == f.c.study).join(sub, sub.c.id == s.c.subject)
                .where(s.c.project_id == self.pk, sub.c.subject_id == parts[0],
                       s.c.study_id == parts[1], f.c.series == series, f.c.name == name)
            ).first()
        if op["kind"] == "remove":
            return digest is None
        return digest is not None and digest[0] == op.get("sha256")

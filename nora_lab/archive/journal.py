"""All-or-nothing file changes around a database transaction, with a crash journal.

A write transaction of the archive changes rows and files together. The files change
last, just before COMMIT, in a :class:`FileTransaction`:

* a new file is renamed from its temporary name onto its real name;
* a file that is replaced or removed is first renamed aside to a backup
  (``.nora-old-<id>-<name>``), so its old content survives until COMMIT;
* a folder that is removed (a study, a subject) is renamed aside the same way.

If the transaction fails, :meth:`~FileTransaction.rollback` undoes the renames in reverse
order: old content returns, new files go. After COMMIT, :meth:`~FileTransaction.finish`
deletes the backups. Used as a context manager around the database transaction, it does
one or the other::

    with FileTransaction(project_root) as files, _db.write(engine) as conn:
        conn.execute(...)              # the rows
        files.put(tmp, dest, digest)   # the files, renamed by apply() before COMMIT
        files.apply()

A process killed between the renames and the end leaves its journal
(``<project>/.nora/journal/<id>.json``, locked with ``flock`` while its writer lives).
:func:`recover` (``nora --fsck --repair``) reads each journal whose writer is gone and asks
the database whether its transaction committed: if so it finishes (deletes backups), if
not it undoes (restores backups, removes new files). Names starting with ``.nora-`` are
reserved for the archive: no user file may have one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nora_lab.archive._ids import RESERVED_PREFIX
from nora_lab.archive.layout import sha256

__all__ = ["FileTransaction", "recover", "pending", "JOURNAL_DIR", "BACKUP_PREFIX"]

JOURNAL_DIR = ".nora/journal"
BACKUP_PREFIX = f"{RESERVED_PREFIX}old-"


@dataclass
class _Op:
    kind: str              # "put" (new content at dest), "remove" (a file), "rmtree" (a folder)
    dest: Path
    tmp: Path | None = None     # "put": the temporary file renamed onto dest
    sha256: str | None = None   # "put": the new content's hash (what a committed row holds)
    backup: Path | None = None  # where dest's old content was renamed aside
    done: bool = False


def _backup_of(dest: Path) -> Path:
    return dest.parent / f"{BACKUP_PREFIX}{uuid.uuid4().hex[:12]}-{dest.name}"


@dataclass
class FileTransaction:
    """File changes that commit or roll back with a database transaction.

    Parameters
    ----------
    root
        The project folder (journal paths are stored relative to it).
    """

    root: Path
    ops: list[_Op] = field(default_factory=list)
    _journal: Path | None = None
    _fd: int | None = None

    def put(self, tmp: Path, dest: Path, sha256: str) -> None:
        """Rename ``tmp`` onto ``dest`` (keeping ``dest``'s old content aside)."""
        self.ops.append(_Op("put", dest, tmp=tmp, sha256=sha256))

    def remove(self, dest: Path) -> None:
        """Remove the file ``dest``."""
        self.ops.append(_Op("remove", dest))

    def remove_tree(self, dest: Path) -> None:
        """Remove the folder ``dest`` and everything in it."""
        self.ops.append(_Op("rmtree", dest))

    def __enter__(self) -> FileTransaction:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        """Roll back if the block (the database transaction) failed, else finish."""
        if exc_type is None:
            self.finish()
        else:
            self.rollback()

    # --- the three steps ----------------------------------------------------------------
    def apply(self) -> None:
        """Write the journal, then make every change (call it inside the transaction)."""
        for op in self.ops:
            if op.dest.exists() or op.dest.is_symlink():
                op.backup = _backup_of(op.dest)
        if not self.ops:
            return
        self._write_journal()
        for op in self.ops:
            if op.backup is not None:
                os.rename(op.dest, op.backup)
            if op.kind == "put":
                assert op.tmp is not None
                try:
                    os.rename(op.tmp, op.dest)
                except BaseException:
                    if op.backup is not None:
                        os.rename(op.backup, op.dest)
                    raise
            op.done = True

    def rollback(self) -> None:
        """Undo what :meth:`apply` did, newest first; then drop the journal."""
        for op in reversed(self.ops):
            if not op.done:
                continue
            if op.kind == "put":
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(op.dest)
            if op.backup is not None:
                os.rename(op.backup, op.dest)
            op.done = False
        self._drop_journal()

    def finish(self) -> None:
        """After COMMIT: delete the backups, then the journal."""
        for op in self.ops:
            if op.done and op.backup is not None:
                _delete(op.backup)
        self._drop_journal()

    # --- the journal --------------------------------------------------------------------
    def _rel(self, p: Path | None) -> str | None:
        return None if p is None else os.path.relpath(p, self.root)

    def _write_journal(self) -> None:
        folder = self.root / JOURNAL_DIR
        folder.mkdir(parents=True, exist_ok=True)
        self._journal = folder / f"{uuid.uuid4().hex}.json"
        self._fd = os.open(self._journal, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o664)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        entry = [{"kind": op.kind, "dest": self._rel(op.dest), "backup": self._rel(op.backup),
                  "sha256": op.sha256} for op in self.ops]
        os.write(self._fd, json.dumps({"pid": os.getpid(), "ops": entry}).encode())

    def _drop_journal(self) -> None:
        if self._journal is not None:
            with contextlib.suppress(FileNotFoundError):
                self._journal.unlink()  # before the lock goes: recover() never sees it stale
        if self._fd is not None:
            os.close(self._fd)
        self._journal = self._fd = None


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def _abandoned(journal: Path) -> Iterator[dict[str, Any] | None]:
    """The journal's content if its writer is gone (we then hold its lock), else None."""
    try:
        fd = os.open(journal, os.O_RDWR)
    except FileNotFoundError:
        yield None
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield None  # a live writer
            return
        try:
            same = os.stat(journal).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # finished and unlinked meanwhile
            yield None
            return
        try:
            yield json.loads(os.pread(fd, 1 << 24, 0) or b"{}")
        except ValueError:
            yield {"ops": []}  # cut before its first byte was written: nothing was renamed
    finally:
        os.close(fd)


def pending(root: Path) -> list[Path]:
    """Journals left in a project folder (live writers' included)."""
    folder = Path(root) / JOURNAL_DIR
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def recover(root: Path, committed: Callable[[dict[str, Any]], bool]) -> list[str]:
    """Finish or undo what killed writers left; return one line per journal handled.

    Parameters
    ----------
    root
        The project folder.
    committed
        ``committed(op)`` tells from the database whether an operation's transaction
        committed; ``op`` has ``kind``, ``dest`` (relative to ``root``) and, for ``put``,
        ``sha256``.
    """
    done = []
    root = Path(root)
    for journal in pending(root):
        with _abandoned(journal) as entry:
            if entry is None:
                continue
            ops = entry.get("ops", [])
            if ops and committed(ops[0]):
                for op in ops:
                    if op.get("backup"):
                        _delete(root / op["backup"])
                what = "finished"
            else:
                for op in reversed(ops):
                    dest = root / op["dest"]
                    backup = root / op["backup"] if op.get("backup") else None
                    if op["kind"] == "put" and (backup is None or backup.exists()):
                        # the new file, if it got its name: only when the content is ours
                        if dest.is_file() and op.get("sha256") and sha256(dest) == op["sha256"]:
                            dest.unlink()
                    if backup is not None and backup.exists():
                        if dest.exists():
                            _delete(dest)
                        os.rename(backup, dest)
                what = "undone"
            journal.unlink()
            done.append(f"{what}: an interrupted write of {len(ops)} file change(s) "
                        f"(process {entry.get('pid', '?')})")
    return done

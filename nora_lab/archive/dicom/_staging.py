"""A private work folder per import, inside the project, that a crash cannot leak.

Every import works in ``<project root>/.nora-import/<id>/`` (unzipped sources, dcm2niix
output, compressed files before they are moved into the archive — same filesystem, so
the move is a rename). The folder's lock file ``<id>.lock`` is held (``flock``) for the
whole import; the kernel drops it when the process dies, however it dies. Each import
starts by removing the folders whose lock nobody holds any more: a killed import leaves
nothing behind once the next one has run.

Commits into the archive (moving files in, writing rows) take the project's
``commit.lock``, so that they can sweep the archive's temporary files (``.nora-tmp-*``)
left in a series folder by a killed import without racing a live one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["Staging", "STAGING_DIR"]

STAGING_DIR = ".nora-import"
_YOUNG_S = 60.0
_ORPHAN_LOCK_S = 3600.0


def _try_lock(path: Path) -> int | None:
    """An fd holding an exclusive lock on ``path``, or None if another process holds it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)  # the project's ACL decides
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


class Staging:
    """``with Staging(project_root) as st: st.path …`` — removed on exit."""

    def __init__(self, project_root: Path):
        self.base = Path(project_root) / STAGING_DIR
        self.id = uuid.uuid4().hex[:12]
        self.path = self.base / self.id
        self._lock = self.base / f"{self.id}.lock"
        self._fd: int | None = None
        self.swept: list[str] = []

    def __enter__(self) -> Staging:
        self.base.mkdir(parents=True, exist_ok=True)
        self.sweep()
        self._fd = _try_lock(self._lock)
        if self._fd is None:  # pragma: no cover - a fresh random name is never locked
            raise OSError(f"cannot lock {self._lock}")
        self.path.mkdir()
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        with contextlib.suppress(OSError):
            self._lock.unlink()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def sweep(self) -> list[str]:
        """Remove the work folders of imports that are no longer running."""
        now = time.time()
        for entry in sorted(self.base.iterdir()):
            if entry.name == "commit.lock":
                continue
            if entry.is_dir():
                lock = self.base / f"{entry.name}.lock"
                if not lock.exists():
                    with contextlib.suppress(OSError):
                        if now - entry.stat().st_mtime < _YOUNG_S:
                            continue
                    shutil.rmtree(entry, ignore_errors=True)
                    self.swept.append(str(entry))
                    continue
                fd = _try_lock(lock)
                if fd is None:
                    continue  # a live import
                try:
                    shutil.rmtree(entry, ignore_errors=True)
                    self.swept.append(str(entry))
                    with contextlib.suppress(OSError):
                        lock.unlink()
                finally:
                    os.close(fd)
            elif entry.suffix == ".lock" and not (self.base / entry.stem).exists():
                with contextlib.suppress(OSError):
                    if now - entry.stat().st_mtime > _ORPHAN_LOCK_S:
                        entry.unlink()
        return self.swept

    @contextlib.contextmanager
    def commit_lock(self) -> Iterator[None]:
        """The project-wide lock under which an import moves files in and writes rows."""
        # any editor of the project opens it, whoever made it (the project's ACL decides)
        fd = os.open(self.base / "commit.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def work(self, name: str) -> Path:
        """A fresh sub-folder of this import's work folder."""
        p = self.path / name
        p.mkdir(parents=True)
        return p

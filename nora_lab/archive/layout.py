"""The on-disk layout and safe file writes.

Like NORA's: ``<storage root>/<project>/<subject>/<study>/<series folder>/<file>``.
Rows store paths relative to the study folder. Every write goes to a temporary name in
the target folder and is renamed into place (atomic on POSIX), so a crash never leaves a
half-written file under a real name; temporary names start with ``.nora-tmp-`` and are
swept by ``nora --fsck``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from nora_lab.errors import AlreadyExistsError, UnsafePathError

__all__ = ["TMP_PREFIX", "safe_name", "inside", "temp_beside", "atomic_target", "atomic_copy",
           "sha256"]

TMP_PREFIX = ".nora-tmp-"
_BAD = re.compile(r"[^A-Za-z0-9._+=@,-]+")


def safe_name(text: str, *, default: str = "unnamed") -> str:
    """A folder or file name made of safe characters (spaces and slashes become ``_``).

    >>> safe_name("T1 MPRAGE/sag")
    'T1_MPRAGE_sag'
    """
    out = _BAD.sub("_", text.strip()).strip("._") or default
    return out[:200]


def inside(base: Path, relpath: str) -> Path:
    """``base / relpath``, refusing any result outside ``base`` (after resolving links)."""
    base = base.resolve()
    target = (base / relpath).resolve()
    if target != base and base not in target.parents:
        raise UnsafePathError(f"{relpath!r} resolves to {target}, outside {base}")
    return target


@contextlib.contextmanager
def temp_beside(dest: Path) -> Iterator[Path]:
    """Yield a temporary path in ``dest``'s folder; remove it at exit if still there.

    The caller renames it onto ``dest`` (``os.replace``) when the content is complete.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}-{dest.name}"
    try:
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_target(dest: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; rename it onto ``dest`` on success.

    On error the temporary file is removed and ``dest`` is untouched.
    """
    with temp_beside(dest) as tmp:
        yield tmp
        if not overwrite and dest.exists():
            raise AlreadyExistsError(f"{dest} exists (pass overwrite=True to replace it)")
        os.replace(tmp, dest)


def atomic_copy(src: Path, dest: Path, *, move: bool = False, overwrite: bool = False) -> str:
    """Copy (or move) ``src`` to ``dest`` atomically; return the SHA-256 of the content."""
    with atomic_target(dest, overwrite=overwrite) as tmp:
        if move:
            try:
                os.link(src, tmp)  # same filesystem: no copy at all
            except OSError:
                shutil.copyfile(src, tmp)
        else:
            shutil.copyfile(src, tmp)
        digest = sha256(tmp)
    if move:
        Path(src).unlink()
    return digest


def sha256(path: Path, *, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()

"""What a source is made of: a folder, a zip (unpacked safely), files, or a mix.

Returns ``(path to read, path to report)`` pairs: for a zip member, the path read is
its unpacked copy in the import's staging folder and the path reported is
``<zip>/<member>``.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

from nora_lab.errors import DicomImportError

__all__ = ["expand_source"]

_MAX_UNZIPPED = 64 * 1024**3


def _safe_extract(zpath: Path, dest: Path) -> None:
    """Unzip ``zpath`` into ``dest``, refusing members that would land outside it."""
    dest = dest.resolve()
    try:
        zf = zipfile.ZipFile(zpath)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DicomImportError(f"{zpath}: not a readable zip archive ({exc})") from exc
    with zf:
        total = sum(i.file_size for i in zf.infolist())
        if total > _MAX_UNZIPPED:
            raise DicomImportError(
                f"{zpath}: unpacks to {total / 1024**3:.1f} GiB, over the "
                f"{_MAX_UNZIPPED / 1024**3:.0f} GiB limit; unpack it yourself and import the "
                "folder")
        for info in zf.infolist():
            target = (dest / info.filename).resolve()
            if target != dest and dest not in target.parents:
                raise DicomImportError(
                    f"{zpath}: member {info.filename!r} would be written outside the "
                    "import folder; refusing this zip")
        zf.extractall(dest)


def expand_source(source: Any, staging: Path) -> tuple[list[tuple[str, str]], str]:
    """The (path to read, path to report) pairs of a source, and its root folder.

    ``source`` is a folder (walked recursively, hidden files skipped), a ``.zip`` file
    (unpacked into ``staging``; reported paths are ``<zip>/<member>``), one file, or an
    iterable of files and folders.
    """
    if isinstance(source, (str, os.PathLike)):
        sources = [Path(source)]
        single = True
    else:
        sources = [Path(s) for s in source]
        single = False
    out: list[tuple[str, str]] = []
    for n, src in enumerate(sources):
        if not src.exists():
            raise DicomImportError(f"import source {src} does not exist")
        if src.is_dir():
            for dirpath, dirnames, filenames in os.walk(src):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    if not name.startswith("."):
                        p = os.path.join(dirpath, name)
                        out.append((p, p))
        elif zipfile.is_zipfile(src) and src.suffix.lower() == ".zip":
            dest = staging / f"unzip{n}"
            dest.mkdir(parents=True, exist_ok=True)
            _safe_extract(src, dest)
            for dirpath, dirnames, filenames in os.walk(dest):
                dirnames.sort()
                for name in sorted(filenames):
                    if name.startswith(".") or "__MACOSX" in dirpath:
                        continue
                    p = os.path.join(dirpath, name)
                    out.append((p, os.path.join(str(src), os.path.relpath(p, dest))))
        else:
            out.append((str(src), str(src)))
    if single and sources[0].is_dir():
        root = str(sources[0])
    else:
        parents = [os.path.dirname(s) for _, s in out] or [str(Path.cwd())]
        root = os.path.commonpath(parents) if len(set(parents)) > 1 else parents[0]
    return out, root

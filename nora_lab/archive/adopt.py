"""Adopt an existing folder tree as a project (NORA's "Create project from existing data").

A pattern maps each file's folders to a subject, a study and a series:

>>> pattern = "{subject}/{study}/{series}"
>>> plan = adopt(proj, "/data/old", pattern, dry_run=True)      # doctest: +SKIP
>>> plan[["path", "psid", "relpath", "action", "reason"]]       # doctest: +SKIP
>>> adopt(proj, "/data/old", pattern)                           # doctest: +SKIP

The pattern is either a template or a regular expression:

* a template names folders with ``{subject}``, ``{study}``, ``{series}``; ``*`` matches
  within one folder name and ``**`` any number of folders. It matches the leading folders
  of a file's path; folders below the matched part stay below the series folder.
* a regular expression with named groups ``subject``, ``study``, ``series`` (NORA's
  ``--pattern`` names ``patients_id`` and ``studies_id`` and its ``(?<name>…)`` form work
  too), searched in the file's folder path.

Without ``{study}`` every subject gets the study ``study=`` (default ``"1"``); without
``{series}`` the files go into the study folder itself.

``mode`` says where the data ends up:

* ``"copy"``: copied into the project folder (the source stays as it is);
* ``"link"``: hard-linked into the project folder (no second copy on disk; the source
  must be on the project's file system);
* ``"inplace"``: the source *is* the project folder, laid out as
  ``<subject>/<study>/<series>/<file>``; the files are registered where they are.

The dry run and the run return the same table: one row per file found, with ``action``
``register``, ``already registered`` or ``skip`` and the ``reason`` for a skip. A run
first reads every file it will register; an unreadable file stops it before anything is
written (:class:`~nora_lab.errors.ForeignDataError` naming the file). Each study's files are
added in one transaction, so a re-run after an interruption registers what is missing and
nothing twice.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from nora_lab.archive import _db
from nora_lab.archive import _schema as t
from nora_lab.archive._ids import RESERVED_PREFIX, check_id
from nora_lab.errors import ConfigError, ForeignDataError, UnsafePathError

if TYPE_CHECKING:
    import pandas as pd

    from nora_lab.archive.project import Project

__all__ = ["adopt", "compile_pattern", "ADOPT_COLUMNS", "MODES"]

#: The columns of :func:`adopt`'s table.
ADOPT_COLUMNS = ["path", "subject", "study", "series", "relpath", "psid", "action", "reason"]
#: Where the data ends up (see the module docstring).
MODES = ("copy", "link", "inplace")

_FIELDS = ("subject", "study", "series")
_NORA_GROUPS = {"patients_id": "subject", "studies_id": "study", "series_id": "series"}
_TEMPLATE_FIELD = re.compile(r"\{(\w+)\}")


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The regular expression of a template or regex pattern (see the module docstring).

    Raises
    ------
    ConfigError
        For an unknown ``{field}``, a regex that does not compile, or a pattern that names
        no subject.
    """
    if "(?" in pattern:  # a regular expression
        text = re.sub(r"\(\?<(\w+)>", r"(?P<\1>", pattern)
        for nora, ours in _NORA_GROUPS.items():
            text = text.replace(f"(?P<{nora}>", f"(?P<{ours}>")
        try:
            rx = re.compile(text)
        except re.error as exc:
            raise ConfigError(f"adopt pattern {pattern!r}: not a valid regular expression "
                              f"({exc})") from None
    else:
        out, pos = [], 0
        for m in _TEMPLATE_FIELD.finditer(pattern):
            out.append(_glob_to_rx(pattern[pos:m.start()]))
            if m.group(1) not in _FIELDS:
                raise ConfigError(f"adopt pattern {pattern!r}: unknown field {{{m.group(1)}}}; "
                                  f"expected {', '.join('{' + f + '}' for f in _FIELDS)}")
            out.append(f"(?P<{m.group(1)}>[^/]+)")
            pos = m.end()
        out.append(_glob_to_rx(pattern[pos:].rstrip("/")))
        rx = re.compile("^" + "".join(out) + "(?=/|$)")
    if "subject" not in rx.groupindex:
        raise ConfigError(f"adopt pattern {pattern!r} names no subject: use {{subject}} or a "
                          "regex group (?P<subject>…)")
    return rx


def _glob_to_rx(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        if text.startswith("**", i):
            out.append(".*")
            i += 2
        elif text[i] == "*":
            out.append("[^/]*")
            i += 1
        else:
            out.append(re.escape(text[i]))
            i += 1
    return "".join(out)


@dataclass
class _Row:
    path: Path
    subject: str = ""
    study: str = ""
    series: str = ""
    relpath: str = ""
    action: str = "skip"
    reason: str = ""
    psid: str = field(default="")


def adopt(project: Project, source: str | os.PathLike[str],
          pattern: str = "{subject}/{study}/{series}", *, mode: str = "copy",
          study: str = "1", dry_run: bool = False, tags: Iterable[str] = ()) -> pd.DataFrame:
    """Register a folder tree in ``project``, or show what would be registered.

    Parameters
    ----------
    project
        The project to fill (editor role for a run).
    source
        The folder tree.
    pattern
        Maps folders to subject, study and series (see the module docstring).
    mode
        ``"copy"``, ``"link"`` or ``"inplace"`` (see the module docstring).
    study
        The study ID for a pattern without ``{study}``.
    dry_run
        Only return the table; change nothing.
    tags
        File tags for every registered file.

    Returns
    -------
    pandas.DataFrame
        One row per file found (:data:`ADOPT_COLUMNS`).

    Raises
    ------
    ForeignDataError
        A file to register cannot be read (nothing is written then), or ``source`` is not
        a folder.
    ConfigError
        A bad pattern or mode, or ``"inplace"`` for a source other than the project folder
        or in a pseudonymized project.
    """
    import pandas as pd

    if mode not in MODES:
        raise ConfigError(f"adopt mode {mode!r}: expected one of {', '.join(MODES)}")
    src = Path(source).expanduser()
    if not src.is_dir():
        raise ForeignDataError(f"cannot adopt {src}: not a folder")
    src = src.resolve()
    if mode == "inplace":
        _check_inplace(project, src)
    rx = compile_pattern(pattern)
    rows = [_classify(p, src, rx, study, mode) for p in _walk(src)]
    _mark_registered(project, rows)
    if not dry_run:
        _register(project, rows, mode, list(tags))
    return pd.DataFrame([[str(r.path), r.subject, r.study, r.series, r.relpath, r.psid,
                          r.action, r.reason] for r in rows], columns=ADOPT_COLUMNS)


def _check_inplace(project: Project, src: Path) -> None:
    if src != project.root.resolve():
        raise ConfigError(
            f"adopt mode 'inplace' registers files where they are, so the source must be the "
            f"project folder {project.root}; got {src}. Use mode='copy' or 'link' otherwise")
    if project.naming == "pseudonym":
        raise ConfigError(
            f"project {project.name!r} is pseudonymized: its subject folders are generated "
            "pseudonyms, so real-ID folders cannot be registered in place; use mode='copy'")


def _walk(src: Path) -> list[Path]:
    out = []
    for folder, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if not d.startswith(RESERVED_PREFIX))
        out += [Path(folder, f) for f in sorted(files)]
    return out


def _classify(path: Path, src: Path, rx: re.Pattern[str], default_study: str,
              mode: str) -> _Row:
    row = _Row(path)
    rel = path.relative_to(src).as_posix()
    folder, _, name = rel.rpartition("/")
    if name.startswith(".") or any(p.startswith(".") for p in folder.split("/") if p):
        row.reason = "hidden file or folder"
        return row
    m = rx.search(folder)
    if m is None:
        row.reason = f"its folder {folder or '.'!r} does not match the pattern"
        return row
    got = m.groupdict()
    row.subject, row.study = got.get("subject") or "", got.get("study") or default_study
    row.series = got.get("series") or ""
    rest = folder[m.end():].strip("/")  # folders below the matched part
    inner = "/".join(p for p in (row.series, rest, name) if p)
    try:
        check_id(row.study, "study id")
    except UnsafePathError as exc:
        row.reason = str(exc)
        return row
    if not row.subject.strip():
        row.reason = "the pattern matched an empty subject"
        return row
    row.relpath, row.psid = inner, f"{row.subject}#{row.study}"
    if mode == "inplace" and f"{row.subject}/{row.study}/{inner}" != rel:
        row.reason = (f"in place needs it at <subject>/<study>/<series>/<file> = "
                      f"{row.subject}/{row.study}/{inner}")
        return row
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        row.action, row.reason = "unreadable", f"unreadable ({exc.strerror})"
        return row
    row.action = "register"
    return row


def _mark_registered(project: Project, rows: list[_Row]) -> None:
    """Rows whose file is registered with the same size: ``already registered``."""
    todo = [r for r in rows if r.action == "register"]
    if not todo:
        return
    f, s, sub = t.files, t.studies, t.subjects
    with _db.read(project.archive.engine) as conn:
        i = t.identities
        q = (sa.select(sub.c.source_id, sub.c.subject_id, i.c.real_id, s.c.study_id, f.c.series,
                       f.c.name, f.c.size)
             .join(s, s.c.id == f.c.study).join(sub, sub.c.id == s.c.subject)
             .outerjoin(i, i.c.subject == sub.c.id)
             .where(s.c.project_id == project.pk))
        known: dict[tuple[str, str, str], int] = {}
        for f_row in conn.execute(q):
            rel = f"{f_row.series}/{f_row.name}" if f_row.series else f_row.name
            ids = {f_row.real_id} if project.naming == "pseudonym" else \
                {f_row.source_id, f_row.subject_id}
            for sid in ids - {None}:
                known[(sid, f_row.study_id, rel)] = f_row.size
    for r in todo:
        size = known.get((r.subject, r.study, r.relpath))
        if size is not None and size == r.path.stat().st_size:
            r.action, r.reason = "already registered", ""


def _register(project: Project, rows: list[_Row], mode: str, tags: list[str]) -> None:
    bad = [r for r in rows if r.action == "unreadable"]
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise ForeignDataError(
            f"cannot adopt {bad[0].path}: {bad[0].reason}{more}; nothing was registered. "
            "Fix the rights or move the file away, then run again")
    by_study: dict[tuple[str, str], list[_Row]] = {}
    for r in rows:
        if r.action == "register":
            by_study.setdefault((r.subject, r.study), []).append(r)
    entries: dict[tuple[str, str], list[tuple[str, Any, Iterable[str], Any]]] = {
        key: [(r.relpath, _placer(r.path, mode), tags, _sidecar_meta(r.path)) for r in members]
        for key, members in by_study.items()}  # every sidecar read before anything is written
    for (subject, study_id), members in by_study.items():
        stored = project.add_subject(subject)
        psid = project.add_study(stored, study_id)
        project._store_many(psid, entries[(subject, study_id)], overwrite=False)
        for r in members:
            r.psid = psid


def _placer(src: Path, mode: str) -> Any:
    def place(tmp: Path) -> None:
        if mode in ("link", "inplace"):
            try:
                os.link(src, tmp)
                return
            except OSError as exc:
                if mode == "inplace":
                    raise ForeignDataError(
                        f"cannot register {src} in place: {exc.strerror}") from None
                raise ForeignDataError(
                    f"cannot hard-link {src} into the project ({exc.strerror}); it must be "
                    "on the project's file system, or use mode='copy'") from None
        shutil.copyfile(src, tmp)

    return place


def _sidecar_meta(path: Path) -> dict[str, Any] | None:
    """The JSON sidecar beside an image (same stem), as the file's metadata."""
    from nora_lab.archive._files import _sidecar_of

    sc = _sidecar_of(path)
    if sc is None:
        return None
    import json

    try:
        meta = json.loads(sc.read_text())
    except (OSError, ValueError) as exc:
        raise ForeignDataError(
            f"cannot adopt {path}: its sidecar {sc} is not valid JSON ({exc})") from None
    return meta if isinstance(meta, dict) else None

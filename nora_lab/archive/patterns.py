"""NORA's wildcard patterns, turned into parametrized SQL.

NORA writes ``*`` for any run of characters and ``_`` for exactly one; internally these
are SQL ``LIKE`` wildcards (``%`` and ``_``). Every pattern has an implicit trailing ``*``
(so ``s0__.nii`` also matches ``s001.nii.gz``). Matching is case-insensitive.

A *file pattern* such as ``t1*/s0__.nii`` is matched against a file's path relative to
its study folder (``<series folder>/<file name>``). A pattern without ``/`` matches the
file name in any folder. Absolute patterns and ``..`` segments are refused: a pattern
can never reach outside the project.

Patterns only ever become bound parameters; a pattern can never inject SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa

from nora_lab.archive._ids import RESERVED_PREFIX
from nora_lab.errors import FilterSyntaxError, UnsafePathError

__all__ = ["like_pattern", "FilePattern", "check_relpath", "to_regex"]

_ESC = "\\"
#: the largest code point: ``prefix + _TOP`` bounds every string starting with prefix
_TOP = "\U0010ffff"


def like_pattern(text: str, *, trailing: bool = True) -> str:
    """Turn a NORA pattern into a lower-cased SQL LIKE pattern (escape character ``\\``).

    >>> like_pattern("t1*/S0__.nii")
    't1%/s0__.nii%'
    >>> like_pattern("100%")
    '100\\\\%%'
    """
    out = []
    for ch in text.lower():
        if ch == "*":
            out.append("%")
        elif ch in ("%", _ESC):
            out.append(_ESC + ch)
        else:
            out.append(ch)
    if trailing and (not out or out[-1] != "%"):
        out.append("%")
    return "".join(out)


def literal_prefix(like: str) -> str:
    """The literal text before the first unescaped wildcard of a LIKE pattern."""
    out = []
    i = 0
    while i < len(like):
        ch = like[i]
        if ch == _ESC and i + 1 < len(like):
            out.append(like[i + 1])
            i += 2
            continue
        if ch in "%_":
            break
        out.append(ch)
        i += 1
    return "".join(out)


def _like_to_glob(like: str) -> str:
    out = []
    i = 0
    while i < len(like):
        ch = like[i]
        if ch == _ESC and i + 1 < len(like):
            lit = like[i + 1]
            out.append(f"[{lit}]" if lit in "*?[" else lit)
            i += 2
            continue
        out.append({"%": "*", "_": "?"}.get(ch, f"[{ch}]" if ch in "*?[" else ch))
        i += 1
    return "".join(out)


def to_regex(text: str, *, trailing: bool = True) -> re.Pattern:
    """The same pattern as a compiled, case-insensitive Python regex (for in-memory use)."""
    body = "".join(".*" if c == "*" else "." if c == "_" else re.escape(c) for c in text)
    return re.compile(body + (".*" if trailing else "") + r"\Z", re.IGNORECASE | re.DOTALL)


def like(column: sa.ColumnElement, text: str, *, lowered: bool = False) -> sa.ColumnElement:
    """``column`` matches a NORA pattern, case-insensitively.

    ``ILIKE`` on PostgreSQL (its statistics then estimate the match, which ``lower(col)``
    would hide from the planner), ``lower(col) LIKE`` on SQLite; ``lowered`` when the
    column holds lower-case text already.
    """
    if lowered:
        return column.like(like_pattern(text), escape=_ESC)
    return column.ilike(like_pattern(text), escape=_ESC)


def check_relpath(relpath: str, *, what: str = "path") -> str:
    """Validate a path relative to a study folder and return it normalized.

    Raises
    ------
    UnsafePathError
        If it is empty, absolute, or contains a ``..`` segment, a backslash, or a name
        starting with ``.nora-`` (reserved for the archive's temporary files).
    """
    if not relpath or not relpath.strip():
        raise UnsafePathError(f"empty {what}: expected '<folder>/<file>' inside the study")
    if relpath.startswith("/") or relpath.startswith("~") or re.match(r"^[A-Za-z]:", relpath):
        raise UnsafePathError(
            f"{what} {relpath!r} is absolute: give it relative to the study folder")
    if "\\" in relpath or "\0" in relpath:
        raise UnsafePathError(f"{what} {relpath!r} contains a backslash or NUL")
    parts = [p for p in relpath.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafePathError(f"{what} {relpath!r} contains '..': it would leave the study folder")
    if not parts:
        raise UnsafePathError(f"{what} {relpath!r} names no file")
    if any(p.startswith(RESERVED_PREFIX) for p in parts):
        raise UnsafePathError(f"{what} {relpath!r}: names starting with {RESERVED_PREFIX!r} "
                              "are reserved for the archive's temporary files and backups")
    return "/".join(parts)


@dataclass(frozen=True)
class FilePattern:
    """A file pattern such as ``t1*/s0__.nii``, validated.

    Parameters
    ----------
    text
        The pattern as the user wrote it.
    """

    text: str

    def __post_init__(self) -> None:
        t = self.text.strip()
        if not t:
            raise FilterSyntaxError("empty file pattern: expected e.g. 't1*/s0*.nii'")
        check_relpath(t, what="file pattern")
        object.__setattr__(self, "text", t)

    @property
    def anywhere(self) -> bool:
        """True when the pattern names only a file (no folder): matched in any folder."""
        return "/" not in self.text

    def likes(self) -> list[str]:
        """The LIKE patterns (lower-case) the relative path must match, any of them."""
        p = like_pattern(self.text)
        return [p, "%/" + p] if self.anywhere and not p.startswith("%") else [p]

    def regex(self) -> re.Pattern:
        body = to_regex(self.text).pattern
        if self.anywhere:
            body = r"(?:.*/)?" + body
        return re.compile(body, re.IGNORECASE | re.DOTALL)

    def matches(self, relpath: str) -> bool:
        """Does a path relative to the study folder match? (pure Python, no database)"""
        return self.regex().match(relpath) is not None

    def condition(self, path_lc: sa.ColumnElement, file_id: sa.ColumnElement,
                  dialect: str, *, trigram: bool = False,
                  project: sa.ColumnElement | None = None) -> sa.ColumnElement:
        """SQL condition on a files row: its ``path_lc`` matches this pattern.

        A literal prefix becomes a B-tree range on ``path_lc``. With ``trigram`` a
        pattern that starts with a wildcard is narrowed by SQLite's FTS5 trigram table
        first (PostgreSQL's planner uses its pg_trgm index by itself). ``project``, a
        condition on the project, is added to the range alternatives, whose index
        starts with the project.
        """
        alts = [_like_condition(p, path_lc, file_id, dialect, trigram=trigram, project=project)
                for p in self.likes()]
        return alts[0] if len(alts) == 1 else sa.or_(*alts)

    def study_ids(self, files: sa.Table, project_pk: int) -> sa.Select:
        """PostgreSQL: the ids of the project's studies having a matching file.

        An alternative without a literal prefix goes through ``nora_file_studies()``
        (migration v006): under row-level security ``LIKE`` cannot use the pg_trgm index
        (it is not leakproof). The function keeps the policies' reader right.
        """
        f = files
        parts = [
            sa.select(f.c.study).where(_like_condition(
                p, f.c.path_lc, f.c.id, "postgresql", project=f.c.project_id == project_pk))
            if literal_prefix(p) else
            sa.select(sa.func.nora_file_studies(project_pk, p, type_=sa.Integer))
            for p in self.likes()]
        return parts[0] if len(parts) == 1 else sa.union_all(*parts)  # type: ignore[return-value]

    def estimate(self, conn: sa.Connection, project_pk: int, cap: int) -> int:
        """How many file rows match, counted up to ``cap`` (cheap: stops at the cap).

        Patterns with no literal prefix and no literal run of 3 characters cannot use
        an index: they count as ``cap`` (common). On PostgreSQL a pattern without a
        literal prefix counts as the planner's estimate of its rows.
        """
        from nora_lab.archive import _schema as t

        f = t.files
        total = 0
        for p in self.likes():
            prefix = literal_prefix(p)
            if prefix:
                q = sa.select(sa.literal(1)).where(
                    f.c.project_id == project_pk, f.c.path_lc >= prefix,
                    f.c.path_lc < prefix + _TOP, f.c.path_lc.like(p, escape=_ESC))
            elif len(literal_run(p)) >= 3:
                if conn.dialect.name != "sqlite":
                    # the planner's estimate: counting through pg_trgm's index is as slow
                    # as the query it is meant to plan (a LIMIT tempts the planner into
                    # walking the B-tree, a rare pattern's rows are few and far between)
                    total += _planned_rows(conn, sa.select(sa.literal(1)).where(
                        f.c.project_id == project_pk, f.c.path_lc.like(p, escape=_ESC)))
                    if total >= cap:
                        return cap
                    continue
                q = trigram_rowids(p)
            else:
                return cap
            total += conn.execute(sa.select(sa.func.count()).select_from(
                q.limit(cap).subquery())).scalar_one()
            if total >= cap:
                return cap
        return total


def _like_condition(p: str, path_lc: sa.ColumnElement, file_id: sa.ColumnElement,
                    dialect: str, *, trigram: bool = False,
                    project: sa.ColumnElement | None = None) -> sa.ColumnElement:
    """One LIKE alternative of :meth:`FilePattern.condition`."""
    cond = path_lc.like(p, escape=_ESC)
    prefix = literal_prefix(p)
    if prefix:
        return sa.and_(*([project] if project is not None else []),
                       path_lc >= prefix, path_lc < prefix + _TOP, cond)
    if trigram and dialect == "sqlite" and len(literal_run(p)) >= 3:
        return sa.and_(file_id.in_(trigram_rowids(p)), cond)
    return cond


def _planned_rows(conn: sa.Connection, query: sa.Select) -> int:
    """PostgreSQL: the number of rows the planner expects ``query`` to return."""
    sql = query.compile(conn, compile_kwargs={"literal_binds": True})
    plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}").scalar_one()
    if isinstance(plan, str):
        import json

        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def trigram_rowids(like: str) -> sa.Select:
    """SQLite: rowids of files whose path matches, from the FTS5 trigram table."""
    trgm = sa.table("files_trgm", sa.column("rowid"), sa.column("path_lc"))
    return sa.select(trgm.c.rowid).where(trgm.c.path_lc.op("GLOB")(_like_to_glob(like)))


def literal_run(like: str) -> str:
    """The longest run of literal characters in a LIKE pattern (what a trigram index uses)."""
    runs = re.split(r"(?<!\\)[%_]", like)
    return max((r.replace(_ESC, "") for r in runs), key=len, default="")

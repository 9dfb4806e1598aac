"""Compile filter bars into SQL conditions on studies or subjects."""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from nora_lab.archive import _schema as t
from nora_lab.archive.filters import Term, parse
from nora_lab.archive.patterns import FilePattern, like
from nora_lab.errors import FilterSyntaxError

#: filter-bar columns of the study table, and the column each one filters
STUDY_COLUMNS = ("subject", "study", "date", "description", "name", "files")
SUBJECT_COLUMNS = ("subject", "name", "files")


class Compiler:
    """Builds conditions for one project, at study or subject level.

    Parameters
    ----------
    level
        ``"study"``: conditions on a ``studies`` row (joined to its subject);
        ``"subject"``: conditions on a ``subjects`` row (any of its studies may qualify).
    dialect
        ``"sqlite"`` or ``"postgresql"``.
    name_visible
        Whether the user may filter on real names (identity right).
    counting
        Conditions for a count of every matching row, not for the first page of an
        ordered table: each file/tag condition then drives the query from the rows it
        selects (``id IN (…)``, a hashed semi-join), which visits each matching row once
        instead of probing once per row of the table.
    """

    #: a file pattern matching fewer rows than this drives the query from its files
    RARE = 2000

    def __init__(self, level: str, dialect: str, *, name_visible: bool = False,
                 conn: sa.Connection | None = None, project_pk: int | None = None,
                 counting: bool = False) -> None:
        self.level = level
        self.counting = counting
        self.dialect = dialect
        self.name_visible = name_visible
        self.conn = conn
        self.project_pk = project_pk
        self.s = t.studies
        self.sub = t.subjects

    # --- "belongs to the current row" helpers ---------------------------------------
    def _study_of(self, col: sa.ColumnElement) -> sa.ColumnElement:
        """Condition that a row whose study FK is ``col`` belongs to the current row."""
        if self.level == "study":
            return col == self.s.c.id
        s2 = t.studies.alias("s2")
        return col.in_(sa.select(s2.c.id).where(s2.c.subject == self.sub.c.id)
                       .correlate_except(s2))

    def _subject_col(self) -> sa.ColumnElement:
        return self.s.c.subject if self.level == "study" else self.sub.c.id

    # --- terms -----------------------------------------------------------------------
    def term(self, term: Term, column: str) -> sa.ColumnElement:
        k, v = term.kind, term.value
        if k == "STAG":
            st = t.study_tags
            return self._probe_or_drive(
                sa.select(sa.literal(1)).where(self._study_of(st.c.study), like(st.c.tag, v)),
                study_ids=sa.select(st.c.study).where(like(st.c.tag, v)))
        if k == "PTAG":
            pt = t.subject_tags
            return self._probe_or_drive(
                sa.select(sa.literal(1)).where(pt.c.subject == self._subject_col(),
                                               like(pt.c.tag, v)),
                subject_ids=sa.select(pt.c.subject).where(like(pt.c.tag, v)))
        if k == "FTAG":
            f, ft = t.files, t.file_tags
            tagged = f.join(ft, ft.c.file == f.c.id)
            return self._probe_or_drive(
                sa.select(sa.literal(1)).select_from(tagged).where(
                    self._study_of(f.c.study), like(ft.c.tag, v)),
                study_ids=sa.select(f.c.study).select_from(tagged).where(
                    f.c.project_id == self.project_pk, like(ft.c.tag, v)))
        if k == "JOB":
            # a study's own jobs, and the subject-level jobs of its subject (study NULL)
            j = t.jobs
            states = j.c.state.in_(sorted(set(v)))
            subject_jobs = sa.and_(j.c.study.is_(None), j.c.subject == self._subject_col())
            own = self._study_of(j.c.study) if self.level == "study" else sa.or_(
                self._study_of(j.c.study), j.c.subject == self.sub.c.id)
            return sa.or_(sa.exists(sa.select(sa.literal(1)).where(own, states)),
                          sa.exists(sa.select(sa.literal(1)).where(subject_jobs, states)))
        if k == "SDESC":
            if self.level == "study":
                return like(self.s.c.description, v)
            s2 = t.studies.alias("s3")
            return sa.exists(sa.select(sa.literal(1)).where(
                s2.c.subject == self.sub.c.id, like(s2.c.description, v)))
        return self.plain(v, column)

    def plain(self, value: str, column: str) -> sa.ColumnElement:
        if column == "files":
            return self.file_pattern(FilePattern(value))
        if column == "subject":
            return like(self.sub.c.subject_id, value)
        if column == "name":
            if not self.name_visible:
                raise FilterSyntaxError(
                    "filter on 'name': you may not see real names in this project "
                    "(ask a project admin for the identity right)")
            i = t.identities
            return sa.exists(sa.select(sa.literal(1)).where(
                i.c.subject == self._subject_col(), like(i.c.real_name, value)))
        if self.level == "subject":
            s2 = t.studies.alias("s4")
            col = {"study": s2.c.study_id, "date": s2.c.date, "description": s2.c.description}
            if column not in col:
                raise _unknown(column, SUBJECT_COLUMNS + ("study", "date", "description"))
            return sa.exists(sa.select(sa.literal(1)).where(
                s2.c.subject == self.sub.c.id, like(col[column], value)))
        col = {"study": self.s.c.study_id, "date": self.s.c.date,
               "description": self.s.c.description}
        if column not in col:
            raise _unknown(column, STUDY_COLUMNS)
        return like(col[column], value)

    def file_pattern(self, pat: FilePattern) -> sa.ColumnElement:
        """Rows having a file that matches (see :meth:`_probe_or_drive`)."""
        f = t.files
        rare = (self.conn is not None and self.project_pk is not None
                and pat.estimate(self.conn, self.project_pk, self.RARE) < self.RARE)
        in_project = (rare or self.counting) and self.project_pk is not None
        cond = pat.condition(f.c.path_lc, f.c.id, self.dialect, trigram=rare,
                             project=f.c.project_id == self.project_pk if in_project else None)
        probe = sa.select(sa.literal(1)).select_from(f).where(self._study_of(f.c.study), cond)
        # (no project condition in the driver: the outer query has it, and on SQLite it
        # would tempt the planner into a scan of the project's files instead of the rowids)
        driver = sa.select(f.c.study).where(cond)
        if in_project and self.dialect == "postgresql":
            assert self.project_pk is not None
            driver = pat.study_ids(f, self.project_pk)  # LIKE through its index under RLS
        return self._probe_or_drive(probe, study_ids=driver, rare=rare or self.counting)

    def _probe_or_drive(self, probe: sa.Select, *, study_ids: sa.Select | None = None,
                        subject_ids: sa.Select | None = None,
                        rare: bool | None = None) -> sa.ColumnElement:
        """A per-row test, built for the first page of an ordered table.

        A *rare* condition (fewer than :attr:`RARE` rows, counted through an index up to
        that cap) drives the query from its few rows: ``id IN (…)``. A common one becomes
        a probe per row of the ordered scan, which stops once the page is full; on
        PostgreSQL the probe is a scalar subquery with ``LIMIT 1``, which the planner can
        neither flatten into a join nor hash (both would visit every matching row).
        """
        driver = study_ids if study_ids is not None else subject_ids
        assert driver is not None, "study_ids or subject_ids"
        if self.counting:
            rare = True
        if rare is None:
            rare = self.conn is not None and self.conn.execute(
                sa.select(sa.func.count()).select_from(driver.limit(self.RARE).subquery())
            ).scalar_one() < self.RARE
        if rare:
            if subject_ids is not None:
                return self._subject_col().in_(subject_ids)
            assert study_ids is not None
            if self.level == "study":
                return self.s.c.id.in_(study_ids)
            s2 = t.studies.alias("s5")
            return self.sub.c.id.in_(sa.select(s2.c.subject).where(s2.c.id.in_(study_ids)))
        if self.dialect == "postgresql":
            return probe.limit(1).scalar_subquery().is_not(None)
        return sa.exists(probe)

    def bar(self, text: str | None, column: str) -> sa.ColumnElement | None:
        groups = parse(text)
        if not groups:
            return None
        return sa.and_(*(sa.or_(*(self.term(tm, column) for tm in g)) for g in groups))

    def filters(self, filters: Mapping[str, str] | str | None) -> list[sa.ColumnElement]:
        """Conditions for a mapping ``{column: bar text}``; a plain string is the file bar."""
        if filters is None:
            return []
        if isinstance(filters, str):
            filters = {"files": filters}
        conds = []
        for column, text in filters.items():
            c = self.bar(text, column)
            if c is not None:
                conds.append(c)
        return conds


def _unknown(column: str, allowed: tuple[str, ...]) -> FilterSyntaxError:
    return FilterSyntaxError(
        f"no filter bar {column!r} (expected one of {', '.join(sorted(set(allowed)))})")

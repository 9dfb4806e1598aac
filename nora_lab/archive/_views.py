"""Queries of a project as DataFrames: studies, subjects, files (a mixin of :class:`Project`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from nora_lab.archive import _db
from nora_lab.archive import _schema as t
from nora_lab.archive._ids import split_psid
from nora_lab.archive._query import Compiler
from nora_lab.archive._tags import tags_by
from nora_lab.archive.layout import inside
from nora_lab.archive.patterns import FilePattern, check_relpath
from nora_lab.errors import UnsafePathError

if TYPE_CHECKING:
    import pandas as pd


if TYPE_CHECKING:  # the host's attributes, for the type checker (see _host)
    from nora_lab.archive._host import ProjectHost
else:
    ProjectHost = object


class QueriesMixin(ProjectHost):
    """Studies, subjects and files matching filter bars and file patterns."""

    def _compiler(self, level: str, conn: sa.Connection | None = None, *,
                  counting: bool = False) -> Compiler:
        return Compiler(level, self.archive.dialect, name_visible=self.can_see_identity,
                        conn=conn, project_pk=self.pk, counting=counting)

    def _studies_select(self, filters, conn: sa.Connection | None = None, *,
                        counting: bool = False) -> sa.Select:
        s, sub = t.studies, t.subjects
        conds = self._compiler("study", conn, counting=counting).filters(filters)
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
        import pandas as pd

        s = t.studies
        order = {"psid": (s.c.psid,), "date": (s.c.date, s.c.psid),
                 "created": (s.c.id,)}[order_by]
        with _db.read(self._engine) as conn:
            q = self._studies_select(filters, conn).order_by(*order).offset(offset)
            if limit is not None:
                q = q.limit(limit)
            df = pd.read_sql(q, conn)
            tags = tags_by(conn, t.study_tags, "study", df["id"].tolist())
        df["tags"] = [tags.get(i, []) for i in df["id"]]
        return df.drop(columns=["id"])

    def count_studies(self, filters: Mapping[str, str] | str | None = None) -> int:
        """How many studies match (for the table's "n of N")."""
        with _db.read(self._engine) as conn:
            sel = self._studies_select(filters, conn, counting=True).subquery()
            return int(conn.execute(sa.select(sa.func.count()).select_from(sel)).scalar_one())

    def subjects(self, filters: Mapping[str, str] | str | None = None, *,
                 limit: int | None = None, offset: int = 0) -> pd.DataFrame:
        """Subjects matching the filter bars: ``subject, n_studies, tags`` (+ ``name``)."""
        import pandas as pd

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
            tags = tags_by(conn, t.subject_tags, "subject", df["id"].tolist())
            if show_names:
                names = dict(conn.execute(sa.select(t.identities.c.subject,
                                                    t.identities.c.real_name)
                                          .where(
                                              t.identities.c.subject.in_(df["id"].tolist()))).all())
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
        import pandas as pd

        f, s, sub = t.files, t.studies, t.subjects
        # the project is filtered through the study, whose (project, psid) index gives
        # the result's order
        q = (sa.select(f.c.id, f.c.series, f.c.name, f.c.filetype, f.c.size, f.c.meta,
                       sub.c.subject_id, s.c.study_id)
             .join(s, s.c.id == f.c.study).join(sub, sub.c.id == s.c.subject)
             .where(s.c.project_id == self.pk))
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
                if rare:  # the few matching rows, found through the path indexes first
                    ids = conn.execute(sa.select(f.c.id).where(pat.condition(
                        f.c.path_lc, f.c.id, self.archive.dialect, trigram=True,
                        project=f.c.project_id == self.pk))).scalars().all()
                    q = q.where(f.c.id.in_(ids))
                else:  # a walk of the studies in order, probing each one's files
                    q = q.where(pat.condition(f.c.path_lc, f.c.id, self.archive.dialect))
            if filters:
                q = q.where(s.c.id.in_(sa.select(self._studies_select(filters, conn)
                                                 .subquery().c.id)))
            order = (s.c.psid, f.c.path_lc)
            if pattern and rare:
                # few rows: fetched by id and ordered here (asked to order, the planner
                # would rather walk every study in order than look up a few ids)
                rows = sorted(conn.execute(q.add_columns(*order)).all(),
                              key=lambda r: (r.psid, r.path_lc))[:limit]
            else:
                # studies by PSID, then the (study, path) index: the walk's order, no sort
                q = q.order_by(*order)
                rows = conn.execute(q if limit is None else q.limit(limit)).all()  # type: ignore[assignment]
            ftags = tags_by(conn, t.file_tags, "file", [r.id for r in rows])
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

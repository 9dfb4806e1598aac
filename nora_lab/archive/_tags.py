"""Tags on subjects, studies and files (a mixin of :class:`Project`)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from nora_lab.archive import _db
from nora_lab.archive import _schema as t


def clean_tags(tags: Iterable[str] | str) -> list[str]:
    """Tags as a list without blanks or repeats; a string is split at commas."""
    if isinstance(tags, str):
        tags = tags.split(",")
    out = []
    for g in tags:
        g = str(g).strip()
        if g and g not in out:
            out.append(g)
    return out



if TYPE_CHECKING:  # the host's attributes, for the type checker (see _host)
    from nora_lab.archive._host import ProjectHost
else:
    ProjectHost = object


class TagsMixin(ProjectHost):
    """Adding and removing tags."""

    def tag_files(self, targets: Iterable[str | int | os.PathLike], tags: Iterable[str]) -> None:
        """Add tags to files given by absolute path or file id."""
        self._require("editor", "tagging files")
        tags = clean_tags(tags)
        with _db.write(self._engine) as conn:
            ids = self._file_ids(conn, targets)
            f = t.files
            for g in tags:  # from the files as they are now: one deleted meanwhile gets none
                rows = sa.select(f.c.id, sa.literal(g)).where(f.c.id.in_(ids))
                _db.insert_ignore_from(conn, t.file_tags, ["file", "tag"], rows)

    def untag_files(self, targets: Iterable[str | int | os.PathLike], tags: Iterable[str]) -> None:
        """Remove tags from files."""
        self._require("editor", "untagging files")
        with _db.write(self._engine) as conn:
            ids = self._file_ids(conn, targets)
            conn.execute(sa.delete(t.file_tags).where(t.file_tags.c.file.in_(ids),
                                                      t.file_tags.c.tag.in_(clean_tags(tags))))

    def tag_study(self, psid: str, tags: Iterable[str]) -> None:
        self._require("editor", "tagging a study")
        with _db.write(self._engine) as conn:
            pk = self._study_row(conn, psid).id
            _db.insert_ignore(conn, t.study_tags,
                              [{"study": pk, "tag": g} for g in clean_tags(tags)])

    def untag_study(self, psid: str, tags: Iterable[str]) -> None:
        self._require("editor", "untagging a study")
        with _db.write(self._engine) as conn:
            pk = self._study_row(conn, psid).id
            conn.execute(sa.delete(t.study_tags).where(t.study_tags.c.study == pk,
                                                       t.study_tags.c.tag.in_(clean_tags(tags))))

    def tag_subject(self, subject_id: str, tags: Iterable[str]) -> None:
        self._require("editor", "tagging a subject")
        with _db.write(self._engine) as conn:
            pk = self._subject_pk(conn, subject_id)
            _db.insert_ignore(conn, t.subject_tags,
                              [{"subject": pk, "tag": g} for g in clean_tags(tags)])

    def untag_subject(self, subject_id: str, tags: Iterable[str]) -> None:
        self._require("editor", "untagging a subject")
        with _db.write(self._engine) as conn:
            pk = self._subject_pk(conn, subject_id)
            conn.execute(sa.delete(t.subject_tags).where(
                t.subject_tags.c.subject == pk, t.subject_tags.c.tag.in_(clean_tags(tags))))


def tags_by(conn: sa.Connection, table: sa.Table, col: str, ids: list[int]) -> dict[int, list[str]]:
    """``{row id: [tags]}`` for the rows ``ids`` of a tag table."""
    out: dict[int, list[str]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for k, tag in conn.execute(sa.select(table.c[col], table.c.tag)
                                   .where(table.c[col].in_(chunk)).order_by(table.c.tag)):
            out.setdefault(k, []).append(tag)
    return out

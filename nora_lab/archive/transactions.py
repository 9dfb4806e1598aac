"""Transactions on a project's archive database, for the layers that keep tables of their
own in it (the reading tool's results).

>>> with write_transaction(project) as conn:           # doctest: +SKIP
...     conn.execute(sa.insert(reading_results).values(**row))

A write transaction commits when the block ends and rolls back on an error; on SQLite it
takes the write lock at once (concurrent writers queue instead of failing). A read
transaction sees one consistent snapshot. Rights are the caller's to check.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from nora_lab.archive import _db

if TYPE_CHECKING:  # pragma: no cover
    import sqlalchemy as sa

    from nora_lab.archive.project import Project

__all__ = ["read_transaction", "write_transaction"]


@contextlib.contextmanager
def read_transaction(project: Project) -> Iterator[sa.Connection]:
    """A read transaction on ``project``'s archive database."""
    with _db.read(project.archive.engine) as conn:
        yield conn


@contextlib.contextmanager
def write_transaction(project: Project) -> Iterator[sa.Connection]:
    """A write transaction on ``project``'s archive database."""
    with _db.write(project.archive.engine) as conn:
        yield conn

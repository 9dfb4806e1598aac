"""Helpers for migrations that describe their tables as they were made (frozen DDL).

A migration must not build today's table: once the table changes, an old archive would
get the new shape from the old migration and then fail the migration that changes it.
So each migration declares its tables on a :class:`sqlalchemy.MetaData` of its own,
beside stubs of the tables they reference.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["frozen_metadata", "create"]


def frozen_metadata() -> sa.MetaData:
    """A MetaData holding stubs of the base tables that frozen tables reference."""
    md = sa.MetaData()
    for name in ("projects", "studies"):
        sa.Table(name, md, sa.Column("id", sa.Integer, primary_key=True))
    return md


def create(op, table: sa.Table) -> None:  # noqa: ANN001 - alembic.operations.Operations
    """Create ``table`` and its indexes unless they exist."""
    bind = op.get_bind()
    table.create(bind, checkfirst=True)
    for index in table.indexes:
        index.create(bind, checkfirst=True)

"""Version 3: the reading tool's ``reading_results`` table.

Importing this module registers the table on the shared metadata, so new archives get
it from ``metadata.create_all``; :func:`upgrade` adds it to archives at version 2.
"""

from __future__ import annotations

from nora_lab.reading._tables import reading_results


def upgrade(op) -> None:  # noqa: ANN001 - alembic.operations.Operations
    """Create ``reading_results`` and its index in an archive at version 2."""
    bind = op.get_bind()
    reading_results.create(bind, checkfirst=True)
    for index in reading_results.indexes:
        index.create(bind, checkfirst=True)

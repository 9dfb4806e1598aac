"""Version 3: the reading tool's ``reading_results`` table.

The archive owns the table (:mod:`nora_lab.archive._reading_results`, registered on the
shared metadata when this module is imported, so new archives get it from
``metadata.create_all``): opening an archive needs no feature package. :func:`upgrade`
adds the table *as it was at version 3* to archives at version 2 (frozen DDL).
"""

from __future__ import annotations

import sqlalchemy as sa

import nora_lab.archive._reading_results  # noqa: F401 - registers today's table
from nora_lab.archive._schema import Json
from nora_lab.archive.migrations._frozen import create, frozen_metadata

_md = frozen_metadata()
READING_RESULTS_V3 = sa.Table(
    "reading_results", _md,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("reading", sa.String(200), nullable=False),
    sa.Column("mode", sa.String(10), nullable=False),
    sa.Column("reader", sa.String(200), nullable=False),
    sa.Column("entered_by", sa.String(200), nullable=False),
    sa.Column("psid", sa.String(800), nullable=False),
    sa.Column("stage", sa.Integer, nullable=False, default=0),
    sa.Column("repetition", sa.Integer, nullable=False, default=0),
    sa.Column("position", sa.Integer, nullable=False, default=0),
    sa.Column("session", sa.String(64)),
    sa.Column("answers", Json, nullable=False),
    sa.Column("annotations", Json),
    sa.Column("started", sa.DateTime, nullable=False),
    sa.Column("ended", sa.DateTime, nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.UniqueConstraint("project_id", "reading", "mode", "reader", "psid", "stage", "repetition",
                        name="uq_reading_results_item"),
)
sa.Index("ix_reading_results_reader", READING_RESULTS_V3.c.project_id,
         READING_RESULTS_V3.c.reading, READING_RESULTS_V3.c.mode, READING_RESULTS_V3.c.reader)


def upgrade(op) -> None:  # noqa: ANN001 - alembic.operations.Operations
    """Create ``reading_results`` (version 3's shape) and its index."""
    create(op, READING_RESULTS_V3)

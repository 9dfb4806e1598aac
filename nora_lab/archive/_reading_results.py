"""The reading tool's table, on the archive's shared metadata.

The archive owns every table of its database, so that it opens (and creates, upgrades,
checks) without importing a feature package; :mod:`nora_lab.reading` reads and writes
the rows. Archives created before it get it from migration ``v003_reading``.

One row per answered item of a reading: reader, case (PSID), stage and repetition within
a mode (training / serious). ``answers`` holds the form's values, ``annotations`` the
archive paths of saved points/ROIs (references, never the voxels). Times are UTC.
"""

from __future__ import annotations

import sqlalchemy as sa

from nora_lab.archive._schema import Json, metadata

__all__ = ["reading_results"]

reading_results = sa.Table(
    "reading_results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("project_id", sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    sa.Column("reading", sa.String(200), nullable=False),
    sa.Column("mode", sa.String(10), nullable=False),  # training | serious
    # who the row belongs to: the user, or "joint" in joint mode
    sa.Column("reader", sa.String(200), nullable=False),
    sa.Column("entered_by", sa.String(200), nullable=False),  # the user who submitted it
    sa.Column("psid", sa.String(800), nullable=False),
    sa.Column("stage", sa.Integer, nullable=False, default=0),
    sa.Column("repetition", sa.Integer, nullable=False, default=0),
    sa.Column("position", sa.Integer, nullable=False, default=0),  # place in the reader's order
    sa.Column("session", sa.String(64)),
    sa.Column("answers", Json, nullable=False),
    sa.Column("annotations", Json),
    sa.Column("started", sa.DateTime, nullable=False),
    sa.Column("ended", sa.DateTime, nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.UniqueConstraint("project_id", "reading", "mode", "reader", "psid", "stage", "repetition",
                        name="uq_reading_results_item"),
)
sa.Index("ix_reading_results_reader", reading_results.c.project_id, reading_results.c.reading,
         reading_results.c.mode, reading_results.c.reader)

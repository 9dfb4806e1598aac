"""Version 2: the DICOM import's ``dicom_instances`` table (SOP instance UIDs imported).

Importing this module registers today's table (:mod:`nora_lab.archive.dicom._tables`) on
the shared metadata, so new archives get it from ``metadata.create_all``; :func:`upgrade`
adds the table *as it was at version 2* to archives at version 1 (frozen DDL: later
versions change it themselves, e.g. ``v004_identity`` adds ``pixels``).
"""

from __future__ import annotations

import sqlalchemy as sa

import nora_lab.archive.dicom._tables  # noqa: F401 - registers today's table
from nora_lab.archive.migrations._frozen import create, frozen_metadata

_UID = sa.String(128)
_md = frozen_metadata()
DICOM_INSTANCES_V2 = sa.Table(
    "dicom_instances", _md,
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("sop_uid", _UID, primary_key=True),
    sa.Column("study", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("study_uid", _UID, nullable=False),
    sa.Column("series_uid", _UID, nullable=False),
    sa.Column("series_number", sa.Integer),
    sa.Column("series_folder", sa.String(400), nullable=False),
    sa.Column("source", sa.String(2000)),
    sa.Column("imported", sa.DateTime, nullable=False,
              server_default=sa.func.current_timestamp()),
)
sa.Index("ix_dicom_instances_series", DICOM_INSTANCES_V2.c.project_id,
         DICOM_INSTANCES_V2.c.series_uid)
sa.Index("ix_dicom_instances_study", DICOM_INSTANCES_V2.c.study)


def upgrade(op) -> None:  # noqa: ANN001 - alembic.operations.Operations
    """Create ``dicom_instances`` (version 2's shape) and its indexes."""
    create(op, DICOM_INSTANCES_V2)

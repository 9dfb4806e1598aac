"""The DICOM import's own table: which SOP instances a project has imported.

``dicom_instances`` remembers every imported SOP Instance UID with the study and series
folder it was filed in, so that importing the same DICOMs again adds nothing, a series
keeps its folder when more of its instances arrive later, and derived objects can be
sent back to the PACS under the right UIDs. Rows go when their study is deleted.
Defined on the archive's shared :data:`~nora_lab.archive._schema.metadata`; archives
created before it get it from migration ``v002_dicom``.
"""

from __future__ import annotations

import sqlalchemy as sa

from nora_lab.archive._schema import metadata

__all__ = ["dicom_instances"]

_UID = sa.String(128)  # DICOM allows 64; some writers exceed it

dicom_instances = sa.Table(
    "dicom_instances",
    metadata,
    sa.Column("project_id", sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("sop_uid", _UID, primary_key=True),
    sa.Column("study", sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
    sa.Column("study_uid", _UID, nullable=False),
    sa.Column("series_uid", _UID, nullable=False),
    sa.Column("series_number", sa.Integer),
    # the series folder inside the study folder, e.g. "3_t1_mprage"
    sa.Column("series_folder", sa.String(400), nullable=False),
    # where the file was imported from (a path, "<zip>/<member>", or a node's label)
    sa.Column("source", sa.String(2000)),
    # "<bytes>:<crc32>" of the encoded pixel data (schema 4; NULL before): the same SOP
    # instance arriving again with other pixels is a conflict, not "already imported"
    sa.Column("pixels", sa.String(32)),
    sa.Column("imported", sa.DateTime, nullable=False, server_default=sa.func.current_timestamp()),
)
sa.Index("ix_dicom_instances_series", dicom_instances.c.project_id, dicom_instances.c.series_uid)
sa.Index("ix_dicom_instances_study", dicom_instances.c.study)

"""Version 2: the DICOM import's ``dicom_instances`` table (SOP instance UIDs imported).

Importing this module registers the table on the shared metadata, so new archives get
it from ``metadata.create_all``; :func:`upgrade` adds it to archives at version 1.
"""

from __future__ import annotations

from nora_lab.archive.dicom._tables import dicom_instances


def upgrade(op) -> None:  # noqa: ANN001 - alembic.operations.Operations
    """Create ``dicom_instances`` and its indexes in an archive at version 1."""
    bind = op.get_bind()
    dicom_instances.create(bind, checkfirst=True)
    for index in dicom_instances.indexes:
        index.create(bind, checkfirst=True)

"""Version 4: IDs from outside are kept, and the database makes them unique.

* ``subjects.source_id``: the ID a subject had outside (a DICOM PatientID) in a real
  project; the folder name ``subject_id`` is derived from it injectively
  (:func:`nora_lab.archive._ids.folder_id`). Unique per project; NULL for the subjects
  filed before this version.
* ``identities.project_id``: so that one real ID has one pseudonym per project (unique).
* ``dicom_instances.pixels``: a fingerprint of each imported instance's pixel data, so
  that the same SOP instance arriving with other pixels is reported as a conflict.

Frozen DDL: this module describes the change as it was made, not today's tables.
"""

from __future__ import annotations

import sqlalchemy as sa

from nora_lab.errors import ArchiveError

DUPLICATES = """
SELECT s.project_id, i.real_id, COUNT(*) AS n
FROM identities i JOIN subjects s ON s.id = i.subject
WHERE i.real_id IS NOT NULL GROUP BY s.project_id, i.real_id HAVING COUNT(*) > 1
"""


def upgrade(op) -> None:  # noqa: ANN001 - alembic.operations.Operations
    """Add and fill the two columns, then their unique indexes."""
    conn = op.get_bind()
    insp = sa.inspect(conn)
    if "source_id" not in {c["name"] for c in insp.get_columns("subjects")}:
        op.add_column("subjects", sa.Column("source_id", sa.String(400)))
    if "project_id" not in {c["name"] for c in insp.get_columns("identities")}:
        op.add_column("identities", sa.Column("project_id", sa.Integer))
    if "pixels" not in {c["name"] for c in insp.get_columns("dicom_instances")}:
        op.add_column("dicom_instances", sa.Column("pixels", sa.String(32)))
    # subjects filed before keep source_id NULL: their original ID is unknown (a folder
    # name may have merged several). The DICOM import claims such a subject for the first
    # original ID whose old folder name it bears (dicom._archive.claim_legacy_subject).
    conn.exec_driver_sql(
        "UPDATE identities SET project_id = "
        "(SELECT s.project_id FROM subjects s WHERE s.id = identities.subject)")
    dups = conn.exec_driver_sql(DUPLICATES).fetchall()
    if dups:
        listed = "; ".join(f"project {p}: {n} subjects" for p, _, n in dups[:5])
        raise ArchiveError(
            f"cannot upgrade the archive to schema 4: {len(dups)} real ID(s) have several "
            f"pseudonyms ({listed}); merge or delete the extra subjects (query: "
            f"{' '.join(DUPLICATES.split())}) with an older nora_lab, then open it again")
    have = {i["name"] for i in insp.get_indexes("subjects")} | {
        i["name"] for i in insp.get_indexes("identities")}
    if "ux_subjects_source" not in have:
        op.create_index("ux_subjects_source", "subjects", ["project_id", "source_id"],
                        unique=True)
    if "ux_identities_real_id" not in have:
        op.create_index("ux_identities_real_id", "identities", ["project_id", "real_id"],
                        unique=True)

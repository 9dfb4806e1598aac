"""The archive's tables, as SQLAlchemy Core metadata.

One schema serves SQLite and PostgreSQL. Layers that need tables of their own define
them on :data:`metadata` in their own module and ship a migration (see
:mod:`nora_lab.archive.migrations`).

Naming follows NORA: a *subject* is a patient (``subject_id`` is NORA's ``patients_id``),
a *study* belongs to one subject (``study_id`` is ``studies_id``), and a study is named
across the project by its PSID ``"<subject_id>#<study_id>"``. Files are stored by their
path relative to the study folder, split into ``series`` (the first folders) and ``name``
so that file patterns anchored on the series folder use a B-tree range.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

#: JSON column type: JSONB on PostgreSQL, JSON text on SQLite.
Json = sa.JSON().with_variant(JSONB(), "postgresql")


#: Bytewise-ordered text on PostgreSQL (collation "C"), so that a prefix pattern is a
#: B-tree range whatever the database's locale; SQLite's default BINARY is bytewise too.
_Path = sa.String(800).with_variant(sa.String(800, collation="C"), "postgresql")


def _now() -> sa.ColumnElement:
    return sa.func.current_timestamp()


settings = sa.Table(
    "nora_settings",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("is_admin", sa.Boolean, nullable=False, default=False),
    sa.Column("created", sa.DateTime, nullable=False, server_default=_now()),
)

projects = sa.Table(
    "projects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    # "real": subject ids are the real patient ids; "pseudonym": generated ids,
    # the mapping kept in `identities`.
    sa.Column("naming", sa.String(20), nullable=False, default="real"),
    sa.Column("autoexec", sa.String(200)),
    sa.Column("meta", Json),
    sa.Column("created", sa.DateTime, nullable=False, server_default=_now()),
)

rights = sa.Table(
    "rights",
    metadata,
    sa.Column("project_id", sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role", sa.String(10), nullable=False),  # reader | editor | admin
    # may this user see real identities of a pseudonymized project?
    sa.Column("identity", sa.Boolean, nullable=False, default=False),
)

subjects = sa.Table(
    "subjects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("project_id", sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    # the folder name and the ID shown (NORA's patients_id): see _ids.folder_id
    sa.Column("subject_id", sa.String(200), nullable=False),
    # the ID as it came from outside (a DICOM PatientID, …) in a real project; NULL in a
    # pseudonymized one (its real ID is in `identities`)
    sa.Column("source_id", sa.String(400)),
    sa.Column("meta", Json),
    sa.Column("created", sa.DateTime, nullable=False, server_default=_now()),
    sa.UniqueConstraint("project_id", "subject_id"),
)
# different IDs never share a subject, the same ID never gets two (schema version 4)
sa.Index("ux_subjects_source", subjects.c.project_id, subjects.c.source_id, unique=True)

identities = sa.Table(
    "identities",
    metadata,
    sa.Column("subject", sa.ForeignKey("subjects.id", ondelete="CASCADE"), primary_key=True),
    # the subject's project, so that one real ID has one pseudonym per project (version 4)
    sa.Column("project_id", sa.Integer),
    sa.Column("real_id", sa.String(200)),
    sa.Column("real_name", sa.String(400)),
    sa.Column("birthdate", sa.String(20)),
    sa.Column("extra", Json),
)
sa.Index("ux_identities_real_id", identities.c.project_id, identities.c.real_id, unique=True)

studies = sa.Table(
    "studies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("project_id", sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    sa.Column("subject", sa.ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False),
    sa.Column("study_id", sa.String(200), nullable=False),
    # "<subject_id>#<study_id>", denormalized: the study's name, and the table's order
    sa.Column("psid", _Path, nullable=False),
    sa.Column("date", sa.String(10)),  # ISO date, YYYY-MM-DD: sorts and prefix-matches as text
    sa.Column("description", sa.String(400)),
    sa.Column("meta", Json),
    sa.Column("created", sa.DateTime, nullable=False, server_default=_now()),
    sa.UniqueConstraint("subject", "study_id"),
)
sa.Index("ix_studies_psid", studies.c.project_id, studies.c.psid, unique=True)

files = sa.Table(
    "files",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("project_id", sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    sa.Column("study", sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
    sa.Column("series", sa.String(400), nullable=False, default=""),
    sa.Column("name", sa.String(400), nullable=False),
    # lower-cased "series/name": what file patterns are matched against
    sa.Column("path_lc", _Path, nullable=False),
    sa.Column("filetype", sa.String(20), nullable=False, default="other"),
    sa.Column("size", sa.BigInteger, nullable=False, default=0),
    sa.Column("sha256", sa.String(64)),
    sa.Column("meta", Json),
    sa.Column("created", sa.DateTime, nullable=False, server_default=_now()),
    sa.UniqueConstraint("study", "series", "name"),
)
sa.Index("ix_files_path", files.c.project_id, files.c.path_lc)
sa.Index("ix_files_study_path", files.c.study, files.c.path_lc)

subject_tags = sa.Table(
    "subject_tags",
    metadata,
    sa.Column("subject", sa.ForeignKey("subjects.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag", sa.String(200), primary_key=True),
)
sa.Index("ix_subject_tags_tag", subject_tags.c.tag, subject_tags.c.subject)

study_tags = sa.Table(
    "study_tags",
    metadata,
    sa.Column("study", sa.ForeignKey("studies.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag", sa.String(200), primary_key=True),
)
sa.Index("ix_study_tags_tag", study_tags.c.tag, study_tags.c.study)

file_tags = sa.Table(
    "file_tags",
    metadata,
    sa.Column("file", sa.ForeignKey("files.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag", sa.String(200), primary_key=True),
)
sa.Index("ix_file_tags_tag", file_tags.c.tag, file_tags.c.file)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("project_id", sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    sa.Column("study", sa.ForeignKey("studies.id", ondelete="CASCADE")),
    sa.Column("subject", sa.ForeignKey("subjects.id", ondelete="CASCADE")),
    sa.Column("batch", sa.String(64)),  # batch run id
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("user_name", sa.String(200)),
    # q(ueued) r(unning) e(rror) d(one) k(illed)
    sa.Column("state", sa.String(1), nullable=False, default="q"),
    sa.Column("submitted", sa.DateTime, server_default=_now()),
    sa.Column("started", sa.DateTime),
    sa.Column("ended", sa.DateTime),
    sa.Column("worker", sa.String(200)),
    sa.Column("log", sa.Text),
    sa.Column("command", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("spec", Json),
)
sa.Index("ix_jobs_study_state", jobs.c.study, jobs.c.state)
sa.Index("ix_jobs_project_state", jobs.c.project_id, jobs.c.state)

json_store = sa.Table(
    "json_store",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("project_id", sa.ForeignKey("projects.id", ondelete="CASCADE")),
    sa.Column("kind", sa.String(50), nullable=False),  # batch | autoloader | share | setting ...
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("user_name", sa.String(200)),
    sa.Column("content", Json, nullable=False),
    sa.Column("modified", sa.DateTime, nullable=False, server_default=_now()),
    sa.UniqueConstraint("project_id", "kind", "name"),
)

"""Version 1: the initial schema, plus the trigram indexes behind leading-wildcard
file patterns (pg_trgm on PostgreSQL, an FTS5 trigram table on SQLite)."""

from __future__ import annotations

import sqlalchemy as sa

from nora_lab.errors import ArchiveError

SQLITE_TRIGRAM = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS files_trgm USING fts5("
    "path_lc, content='files', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER IF NOT EXISTS files_trgm_ai AFTER INSERT ON files BEGIN "
    "INSERT INTO files_trgm(rowid, path_lc) VALUES (new.id, new.path_lc); END",
    "CREATE TRIGGER IF NOT EXISTS files_trgm_ad AFTER DELETE ON files BEGIN "
    "INSERT INTO files_trgm(files_trgm, rowid, path_lc) VALUES ('delete', old.id, old.path_lc); "
    "END",
    "CREATE TRIGGER IF NOT EXISTS files_trgm_au AFTER UPDATE OF path_lc ON files BEGIN "
    "INSERT INTO files_trgm(files_trgm, rowid, path_lc) VALUES ('delete', old.id, old.path_lc); "
    "INSERT INTO files_trgm(rowid, path_lc) VALUES (new.id, new.path_lc); END",
]

POSTGRES_TRIGRAM = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS ix_files_path_trgm ON files USING gin (path_lc gin_trgm_ops)",
]


def on_create(conn: sa.Connection) -> None:
    statements = SQLITE_TRIGRAM if conn.dialect.name == "sqlite" else POSTGRES_TRIGRAM
    for stmt in statements:
        conn.exec_driver_sql(stmt)


def upgrade(op) -> None:  # noqa: ANN001 - version 1 is the baseline
    raise ArchiveError("version 1 is the baseline; archives older than it do not exist")

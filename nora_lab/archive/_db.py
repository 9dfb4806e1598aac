"""Engines for the two supported databases, transactions, and schema versioning.

SQLite (the embedded default) runs in WAL mode with a busy timeout and foreign keys on;
write transactions start with ``BEGIN IMMEDIATE`` so that concurrent writers queue on
the busy timeout instead of failing with "database is locked" when a read lock cannot be
upgraded. PostgreSQL uses psycopg 3.

The schema version is kept in ``nora_settings``; a new archive is created at the newest
version, an older one is upgraded by the migrations in :mod:`.migrations`.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from nora_lab.archive import _schema, migrations
from nora_lab.errors import ArchiveError, ConfigError, NotFoundError

SQLITE_BUSY_TIMEOUT_S = 60


def make_engine(url: str, *, role: str | None = None) -> sa.Engine:
    """Create an engine for ``url`` (``sqlite:///…`` or ``postgresql://…``).

    ``role`` (PostgreSQL): every connection runs ``SET ROLE role`` first, which PostgreSQL
    refuses unless the login role is a member of it (:mod:`._pg`).
    """
    try:
        u = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(
            f"database URL {url!r} is not an SQLAlchemy URL "
            "(expected sqlite:///path/archive.sqlite or postgresql://user@host/db)"
        ) from exc
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            u, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
        )
        _sqlite_events(engine)
        return engine
    if u.get_backend_name() == "postgresql":
        if u.drivername == "postgresql":
            u = u.set(drivername="postgresql+psycopg")
        engine = sa.create_engine(u, pool_pre_ping=True)
        if role is not None:
            from nora_lab.archive import _pg

            sa.event.listen(engine, "connect",
                            lambda dbapi_conn, _record: _pg.set_role(dbapi_conn, role))
        return engine
    raise ConfigError(
        f"database URL {url!r}: backend {u.get_backend_name()!r} is not supported "
        "(use sqlite:/// or postgresql://)"
    )


def _sqlite_events(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        write = conn.get_execution_options().get("nora_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def is_sqlite(engine: sa.Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextlib.contextmanager
def write(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A write transaction: committed on success, rolled back on error.

    A row that another writer deleted meanwhile (a foreign key that no longer holds)
    raises :class:`~nora_lab.errors.NotFoundError`, not the driver's integrity error.
    """
    try:
        with engine.connect().execution_options(nora_write=True) as conn, conn.begin():
            yield conn
    except sa.exc.IntegrityError as exc:
        if not _is_foreign_key(exc):
            raise
        raise NotFoundError("what this change refers to was deleted by another user or "
                            "process meanwhile; nothing was changed") from exc


def _is_foreign_key(exc: sa.exc.IntegrityError) -> bool:
    return (getattr(exc.orig, "sqlstate", None) == "23503"
            or "FOREIGN KEY constraint failed" in str(exc.orig))


@contextlib.contextmanager
def read(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A read transaction (a consistent snapshot on both backends)."""
    with engine.connect() as conn, conn.begin():
        yield conn


def upsert(conn: sa.Connection, table: sa.Table, row: dict, keys: list[str]) -> None:
    """INSERT a row, or UPDATE the row with the same ``keys`` (atomic on both backends)."""
    stmt = _insert(conn, table).values(**row)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=keys, set_={k: v for k, v in row.items() if k not in keys}))


def _insert(conn: sa.Connection, table: sa.Table) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


def insert_ignore(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    """INSERT rows, silently skipping those that violate a unique constraint."""
    if not rows:
        return
    conn.execute(_insert(conn, table).on_conflict_do_nothing(), rows)


def insert_ignore_from(conn: sa.Connection, table: sa.Table, columns: list[str],
                       rows: sa.Select) -> None:
    """INSERT … SELECT, skipping rows that violate a unique constraint. The rows are read
    in the statement's own snapshot, so a row deleted meanwhile is simply not there (and
    row-level security judges what is)."""
    conn.execute(_insert(conn, table).from_select(columns, rows).on_conflict_do_nothing())


# --- schema versions -------------------------------------------------------------------


def _migration_modules() -> dict[int, object]:
    mods = {}
    for info in pkgutil.iter_modules(migrations.__path__):
        if info.name.startswith("v") and info.name[1:4].isdigit():
            mods[int(info.name[1:4])] = importlib.import_module(
                f"{migrations.__name__}.{info.name}"
            )
    return dict(sorted(mods.items()))


def latest_version() -> int:
    return max(_migration_modules())


def schema_version(conn: sa.Connection) -> int | None:
    """The archive's schema version, or None for an empty database."""
    if not sa.inspect(conn).has_table(_schema.settings.name):
        return None
    v = conn.execute(
        sa.select(_schema.settings.c.value).where(_schema.settings.c.key == "schema_version")
    ).scalar()
    return int(v) if v is not None else None


def _set_version(conn: sa.Connection, version: int) -> None:
    s = _schema.settings
    conn.execute(sa.delete(s).where(s.c.key == "schema_version"))
    conn.execute(sa.insert(s).values(key="schema_version", value=str(version)))


def ensure_schema(engine: sa.Engine) -> int:
    """Create the schema in an empty database, or upgrade an older one.

    Concurrent openers are serialized (an advisory lock on PostgreSQL, the write
    lock on SQLite). Returns the version now in force.

    Raises
    ------
    ArchiveError
        If the database was written by a newer nora_lab than this one.
    """
    mods = _migration_modules()  # importing them registers their tables on the metadata
    newest = max(mods)
    with write(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7461927)"))
        current = schema_version(conn)
        if current == newest:
            return current
        if current is not None and current > newest:
            raise ArchiveError(
                f"the archive's schema is version {current}, newer than this nora_lab "
                f"understands ({newest}); upgrade nora_lab"
            )
        if current is None:
            _schema.metadata.create_all(conn)
            for mod in mods.values():
                if hasattr(mod, "on_create"):
                    mod.on_create(conn)
        else:
            from alembic.migration import MigrationContext
            from alembic.operations import Operations

            op = Operations(MigrationContext.configure(conn))
            for version, mod in mods.items():
                if version > current:
                    mod.upgrade(op)
        _set_version(conn, newest)
        return newest

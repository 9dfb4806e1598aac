"""Opening an archive: locations, defaults, schema versions."""

import pytest
import sqlalchemy as sa

from nora_lab import config
from nora_lab.archive import Archive, _db
from nora_lab.archive import _schema as t
from nora_lab.errors import ArchiveError, ConfigError

BASE_TABLES = {tbl for tbl in vars(t).values() if isinstance(tbl, sa.Table)}


def test_nora_home_is_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("NORA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NORA_DB", raising=False)
    monkeypatch.delenv("NORA_ROOT", raising=False)
    monkeypatch.setenv("JUPYTERHUB_USER", "hubuser")  # anyone's to set: never an identity
    arc = Archive.open()
    assert arc.user == config.current_user() != "hubuser" and arc.is_admin
    assert (tmp_path / "home" / "archive.sqlite").exists()
    assert arc.root == tmp_path / "home" / "data"


def test_a_directory_or_a_sqlite_file(tmp_path):
    assert Archive.open(tmp_path / "h", user="u").root == tmp_path / "h" / "data"
    arc = Archive.open(tmp_path / "x.sqlite", user="u")
    assert arc.engine.dialect.name == "sqlite" and arc.root == tmp_path / "data"


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    arc = Archive.open(tmp_path / "h", user="u")
    with arc.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10000


def test_unsupported_url_is_a_clear_error():
    with pytest.raises(ConfigError, match="not supported"):
        Archive.open("mysql://x/y")


def test_storage_root_is_recorded_at_creation(url, tmp_path):
    Archive.open(url, root=tmp_path / "shared", user="a").close()
    assert Archive.open(url, user="b").root == tmp_path / "shared"


def test_new_archive_is_at_the_newest_schema_version(archive):
    with archive.engine.connect() as conn:
        assert _db.schema_version(conn) == _db.latest_version()


def test_an_older_archive_is_upgraded_when_opened(archive, url):
    """An archive made by release 1 (base tables only, version 1) opens in this one."""
    p = archive.create_project("old")
    p.add_study(p.add_subject("P1"), "S1")
    later = [tbl for tbl in t.metadata.sorted_tables if tbl not in BASE_TABLES]
    owner = _db.make_engine(url)  # the schema's owner (on PostgreSQL, not alice)
    with _db.write(owner) as conn:
        for tbl in reversed(later):
            tbl.drop(conn)
        conn.execute(sa.update(t.settings).where(t.settings.c.key == "schema_version")
                     .values(value="1"))
    owner.dispose()
    archive.close()
    arc = Archive.open(url, user="alice")
    with arc.engine.connect() as conn:
        assert _db.schema_version(conn) == _db.latest_version()
        names = set(sa.inspect(conn).get_table_names())
    assert {tbl.name for tbl in later} <= names
    assert arc.project("old").studies()["psid"].tolist() == ["P1#S1"]


def test_an_archive_from_a_newer_release_is_refused(archive, url):
    with _db.write(archive.engine) as conn:
        conn.execute(sa.update(t.settings).where(t.settings.c.key == "schema_version")
                     .values(value="999"))
    with pytest.raises(ArchiveError, match="newer"):
        Archive.open(url, user="alice")

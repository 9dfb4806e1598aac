"""Fixtures shared by the whole suite.

The archive contract runs on both backends: every test that takes ``archive`` (or
``url``) runs once on SQLite and once on a real PostgreSQL server that this file starts
for the session (Debian's postgresql, as the ``postgres`` user, in a temp data dir on a
free port). If that server cannot start, the PostgreSQL half of the suite fails with the
reason — it is never skipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nora_lab.errors import DatasetError
from nora_lab.testing import PostgresServer, ServiceError, testdata


def pytest_sessionstart(session):
    """The suite needs its test data (``make testdata``): stop at once, in one line, without."""
    try:
        testdata.require()
    except DatasetError as exc:
        pytest.exit(str(exc), returncode=3)


@pytest.fixture(scope="session")
def pg_server():
    # its own temp dir under /tmp: the postgres user cannot enter pytest's 0700 dirs
    server = PostgresServer()
    try:
        server.start()
    except ServiceError as exc:
        pytest.fail(f"PostgreSQL could not start, so the postgres tests cannot run: {exc}",
                    pytrace=False)
    yield server
    server.__exit__(None, None, None)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request):
    return request.param


@pytest.fixture
def url(backend, tmp_path, request):
    """A fresh, empty archive database URL on the current backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'archive.sqlite'}"
    return request.getfixturevalue("pg_server").create_database()


@pytest.fixture
def archive(url, tmp_path):
    """A new archive opened as ``alice`` (its first user, so its administrator)."""
    from nora_lab.archive import Archive

    arc = Archive.open(url, root=tmp_path / "data", user="alice")
    yield arc
    arc.close()


@pytest.fixture(scope="session")
def dicom_dir() -> Path:
    """The DICOM test datasets by name (``dicom_dir / "dcm_qa_ts" / "In"``): verified
    copies from ``$NORA_TESTDATA``, the user's cache or ``../shared/data``, read in place."""
    return testdata.dicom_root()


@pytest.fixture
def login(url, archive, request):
    """``login(name)``: the archive as ``name`` with ``name``'s own credential.

    On PostgreSQL, the login role ``name`` with a password of its own (the archive's
    admin adds the user first): what a lab user's notebook or ``nora`` command holds, so
    PostgreSQL's checks are the ones that apply. On SQLite (single-user), a name inside
    the archive.
    """
    from nora_lab.archive import Archive

    opened = []

    def open_as(name: str):
        if archive.dialect == "postgresql":
            archive.add_user(name)
            arc = Archive.open(request.getfixturevalue("pg_server").login_url(url, name),
                               root=archive.root)
        else:
            arc = archive.as_user(name)
        opened.append(arc)
        return arc

    yield open_as
    for arc in opened:
        arc.close()

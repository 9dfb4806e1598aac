"""A hostile lab user against a PostgreSQL archive: real roles, each user's own password.

mallory has no right on project ``secret``, rita is its reader; both try, in Python, on the
``nora`` command line and in raw SQL with their own credential, what a lab user must not
be able to do. PostgreSQL (its authentication, privileges and row-level security) refuses
it, not the library.
"""

from __future__ import annotations

import json

import psycopg
import pytest
import sqlalchemy as sa

from nora_lab.archive import Archive
from nora_lab.cli import main
from nora_lab.errors import NotFoundError, PermissionDenied

pytestmark = pytest.mark.postgres


@pytest.fixture
def lab(pg_server, tmp_path):
    """An archive whose admin (alice) made a pseudonymized project; mallory and rita are
    lab users with their own passwords: rita reads ``secret``, mallory has no right."""
    url = pg_server.create_database()
    alice = Archive.open(url, root=tmp_path / "data", user="alice")
    p = alice.create_project("secret", naming="pseudonym")
    sid = p.add_subject("REAL-123", identity={"name": "Doe^Jane", "birthdate": "19800101"})
    p.add_bytes(b"scan", p.add_study(sid, "S1"), "t1/s1.nii")
    for user in ("mallory", "rita"):
        alice.add_user(user)
    alice.grant("secret", "rita", "reader")
    alice.close()
    urls = {u: pg_server.login_url(url, u) for u in ("mallory", "rita", "alice")}
    return url, urls, tmp_path / "data"


def _raw(url: str):
    u = sa.make_url(url)
    return psycopg.connect(host=u.host, port=u.port, user=u.username, password=u.password,
                           dbname=u.database, autocommit=True)


@pytest.mark.parametrize("who", ["mallory", "rita"])
def test_raw_sql_with_ones_own_credential_cannot_escalate(lab, who):
    _, urls, _ = lab
    with _raw(urls[who]) as conn:
        for stmt, reason in [
            ("SET ROLE alice", "permission denied to set role"),
            (f"ALTER ROLE {who} SUPERUSER", "must be superuser"),
            (f"ALTER ROLE {who} CREATEROLE", "permission denied"),
            ("COPY (SELECT 1) TO PROGRAM 'id > /tmp/pwned'", "pg_execute_server_program"),
            ("SELECT rolpassword FROM pg_authid", "permission denied"),
            ("CREATE TABLE mine (x int)", "permission denied"),
            ("INSERT INTO rights (project_id, user_id, role, identity) VALUES "
             "(1, (SELECT id FROM users WHERE name = current_user), 'admin', true)",
             "row-level security"),
        ]:
            with pytest.raises(psycopg.Error, match=reason):
                conn.execute(stmt)
        db = conn.execute("SELECT current_database()").fetchone()[0]
        with pytest.raises(psycopg.Error, match="must have admin option|permission denied"):
            conn.execute(f'GRANT "{db}_admins" TO {who}')
        # what RLS hides is not there to change: 0 rows, nothing changed
        assert conn.execute("UPDATE users SET is_admin = true WHERE name = %s",
                            (who,)).rowcount == 0
        assert conn.execute("DELETE FROM rights").rowcount == 0
        assert conn.execute("DELETE FROM identities").rowcount == 0
        assert conn.execute("SELECT real_id, real_name FROM identities").fetchall() == []
        assert conn.execute("SELECT current_user, session_user").fetchone() == (who, who)
    with _raw(urls["alice"]) as conn:  # the admin sees everything still in place
        assert conn.execute("SELECT count(*) FROM rights").fetchone()[0] == 2
        assert conn.execute("SELECT real_id FROM identities").fetchall() == [("REAL-123",)]
        assert conn.execute("SELECT is_admin FROM users WHERE name = %s", (who,)
                            ).fetchone() == (False,)


def test_a_user_without_a_right_sees_no_row_of_the_project(lab):
    _, urls, _ = lab
    with _raw(urls["mallory"]) as conn:
        for table in ("projects", "subjects", "studies", "files", "file_tags", "identities",
                      "dicom_instances", "jobs", "json_store", "reading_results", "rights"):
            assert conn.execute(f"SELECT * FROM {table}").fetchall() == [], table
        assert conn.execute("SELECT nora_pseudonym(p, 'REAL-123') FROM "
                            "(SELECT 1 AS p) x").fetchone() == (None,)
        # the file-pattern matcher (it bypasses RLS to use its index) keeps the reader right
        assert conn.execute("SELECT nora_file_studies(p, '%') FROM "
                            "(SELECT 1 AS p) x").fetchall() == []
    with _raw(urls["rita"]) as conn:
        assert len(conn.execute("SELECT * FROM files").fetchall()) == 1
        assert len(conn.execute("SELECT nora_file_studies(1, '%s1%')").fetchall()) == 1
        assert conn.execute("SELECT * FROM identities").fetchall() == []  # no identity right
        with pytest.raises(psycopg.Error, match="row-level security"):
            conn.execute("INSERT INTO study_tags (study, tag) SELECT id, 'x' FROM studies")


def test_python_cannot_change_who_you_are(lab, monkeypatch):
    url, urls, root = lab
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")  # ignored
    mallory = Archive.open(urls["mallory"], root=root)
    assert mallory.user == "mallory" and not mallory.is_admin
    with pytest.raises(NotFoundError):
        mallory.project("secret")
    with pytest.raises(PermissionDenied, match="permission denied to set role"):
        Archive.open(urls["mallory"], root=root, user="alice")
    with pytest.raises(PermissionDenied, match="permission denied to set role"):
        mallory.as_user("alice")
    with pytest.raises(PermissionDenied):
        mallory.add_user("mallory2", admin=True)
    rita = Archive.open(urls["rita"], root=root).project("secret")
    with pytest.raises(PermissionDenied, match="identities"):
        rita.identity(rita.subjects()["subject"][0])
    mallory.close()


def test_the_command_line_cannot_change_who_you_are(lab, monkeypatch, capsys):
    _, urls, root = lab
    monkeypatch.setenv("NORA_DB", urls["mallory"])
    monkeypatch.setenv("NORA_ROOT", str(root))
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")

    def nora(*argv):
        rc = main(list(argv))
        return (rc, *capsys.readouterr())

    rc, out, _ = nora("-q", "SELECT real_id, real_name, birthdate FROM identities")
    assert rc == 0 and json.loads(out) == []
    rc, _, err = nora("-q", "UPDATE users SET is_admin = true WHERE name = 'mallory'")
    assert rc == 1 and "read-only" in err and len(err.strip().splitlines()) == 1
    rc, _, err = nora("-p", "secret", "-s", "*")
    assert rc == 1 and "no project 'secret' visible to user 'mallory'" in err
    rc, _, err = nora("-p", "secret", "--grant", "mallory", "admin")
    assert rc == 1

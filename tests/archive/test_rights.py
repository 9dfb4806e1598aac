"""Users, projects and rights: a user sees only projects they have a right on."""

import pytest

from nora_lab.errors import NotFoundError, PermissionDenied


@pytest.fixture
def arc(archive):
    p = archive.create_project("secret", naming="pseudonym")
    sid = p.add_subject("REAL-123", identity={"name": "Doe^Jane", "birthdate": "19800101"})
    p.add_study(sid, "S1")
    archive.add_user("bob")
    archive.add_user("carol")
    return archive


def test_creator_of_a_new_archive_is_its_admin(arc):
    assert arc.is_admin and arc.project("secret").role == "admin"


def test_user_without_right_cannot_see_the_project(arc, login):
    bob = login("bob")
    assert bob.projects().empty
    with pytest.raises(NotFoundError, match="no project 'secret' visible to user 'bob'"):
        bob.project("secret")
    assert bob.sql("SELECT * FROM subjects").empty
    assert bob.sql("SELECT name FROM projects").empty


def test_reader_reads_but_cannot_write(arc, login):
    arc.grant("secret", "bob", "reader")
    p = login("bob").project("secret")
    assert len(p.studies()) == 1
    with pytest.raises(PermissionDenied, match="editor"):
        p.add_bytes(b"x", p.studies()["psid"][0], "a.nii")
    with pytest.raises(PermissionDenied):
        p.tag_study(p.studies()["psid"][0], ["x"])


def test_editor_writes_but_cannot_change_rights(arc, login):
    arc.grant("secret", "bob", "editor")
    bob = login("bob")
    p = bob.project("secret")
    p.add_bytes(b"x", p.studies()["psid"][0], "a.nii")
    with pytest.raises(PermissionDenied, match="admin"):
        bob.grant("secret", "carol", "reader")


def test_pseudonyms_hide_real_identity_from_users_without_the_right(arc, login):
    p = arc.project("secret")
    sid = p.subjects()["subject"][0]
    assert sid != "REAL-123" and "REAL" not in str(p.study_dir(f"{sid}#S1"))
    assert p.add_subject("REAL-123") == sid  # same real id -> same pseudonym
    assert p.identity(sid)["name"] == "Doe^Jane"
    arc.grant("secret", "bob", "reader")
    bp = login("bob").project("secret")
    assert "name" not in bp.subjects().columns
    with pytest.raises(PermissionDenied, match="identities"):
        bp.identity(sid)
    assert login("bob").sql("SELECT * FROM identities").empty
    arc.grant("secret", "bob", "reader", identity=True)
    assert login("bob").project("secret").identity(sid)["id"] == "REAL-123"


def test_non_admin_sql_is_read_only(arc, login):
    arc.grant("secret", "bob", "editor")
    bob = login("bob")
    assert len(bob.sql("SELECT * FROM studies")) == 1
    from nora_lab.errors import ArchiveError

    with pytest.raises(ArchiveError, match="read-only"):
        bob.sql("DELETE FROM studies")
    assert len(arc.project("secret").studies()) == 1


def test_non_admin_cannot_add_users(arc, login):
    with pytest.raises(PermissionDenied, match="administrator"):
        login("bob").add_user("mallory")

"""Integrity under concurrency and odd input (both backends): IDs that never merge, one
pseudonym per real ID, all-or-nothing file writes that survive a kill, reserved names, an
fsck that repairs past what it cannot, and SQL with a time limit that creates no files."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import sqlalchemy as sa

from nora_lab.archive import _db
from nora_lab.archive import _schema as t
from nora_lab.archive._files import NewFile
from nora_lab.archive._ids import folder_id
from nora_lab.archive.fsck import fsck
from nora_lab.errors import AlreadyExistsError, ArchiveError, UnsafePathError


@pytest.fixture
def proj(archive):
    p = archive.create_project("p")
    p.add_study(p.add_subject("P1"), "S1")
    return p


# --- identity-preserving names ----------------------------------------------------------

def test_ids_that_fold_to_one_folder_name_stay_apart(proj):
    stored = [proj.add_subject(i, identity={"name": f"Name{k}"})
              for k, i in enumerate(["12 34", "12#34", "12/34"])]
    assert len(set(stored)) == 3
    assert all(s.startswith("12_34_") for s in stored)
    assert [proj.identity(s)["name"] for s in stored] == ["Name0", "Name1", "Name2"]
    # lookups go by the original ID: adding it again finds the same subject
    assert [proj.add_subject(i) for i in ["12 34", "12#34", "12/34"]] == stored


def test_non_ascii_ids_keep_readable_folder_names(proj):
    stored = proj.add_subject("Ünï 名前")
    assert stored.startswith("Ünï_名前_") and len(stored) == len("Ünï_名前_") + 8
    assert proj.add_subject("Ünï 名前") == stored
    psid = proj.add_study(stored, "S1")
    path = proj.add_bytes(b"x", psid, "t1/a.nii")
    assert path.parts[-4] == stored and path.read_bytes() == b"x"
    with _db.read(proj.archive.engine) as conn:
        assert conn.execute(sa.select(t.subjects.c.source_id).where(
            t.subjects.c.subject_id == stored)).scalar() == "Ünï 名前"


def test_a_valid_id_is_its_own_folder_and_a_taken_name_gets_a_longer_hash(proj):
    assert folder_id("P001") == "P001"
    derived = proj.add_subject("A B")                 # "A_B_<8 hex>"
    assert proj.add_subject(derived) == derived        # the stored name finds it
    clash = proj.add_subject(derived, strict=True)     # an outside ID equal to it does not
    assert clash != derived and clash.startswith(derived + "_")


def _add_same_subject(url: str, root: str, project: str, real_id: str, q) -> None:
    from nora_lab.archive import Archive

    arc = Archive.open(url, root=root, user="alice")
    q.put(arc.project(project).add_subject(real_id, identity={"name": "Doe^Jane"}))
    arc.close()


@pytest.mark.parametrize("naming", ["pseudonym", "real"])
def test_eight_processes_adding_one_id_get_one_subject(archive, url, naming):
    archive.create_project("race", naming=naming)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    real_id = "REAL-123" if naming == "pseudonym" else "12 34"
    procs = [ctx.Process(target=_add_same_subject, args=(url, str(archive.root), "race",
                                                         real_id, q)) for _ in range(8)]
    for pr in procs:
        pr.start()
    got = [q.get(timeout=120) for _ in procs]
    for pr in procs:
        pr.join(60)
    assert [pr.exitcode for pr in procs] == [0] * 8
    assert len(set(got)) == 1, got
    with _db.read(archive.engine) as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.subjects).where(
            t.subjects.c.project_id == archive.project("race").pk)).scalar() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(t.identities).where(
            t.identities.c.real_id == real_id)).scalar() == (1 if naming == "pseudonym" else 0)


def test_the_database_refuses_a_second_pseudonym_for_one_real_id(archive):
    p = archive.create_project("pp", naming="pseudonym")
    p.add_subject("REAL-1")
    with pytest.raises(sa.exc.IntegrityError), _db.write(archive.engine) as conn:
        pk = conn.execute(sa.insert(t.subjects).values(project_id=p.pk, subject_id="PXX")
                          .returning(t.subjects.c.id)).scalar_one()
        conn.execute(sa.insert(t.identities).values(subject=pk, project_id=p.pk,
                                                    real_id="REAL-1"))


def test_an_archive_at_schema_3_is_upgraded_and_keeps_its_subjects(url, tmp_path):
    """A version-3 archive (no source_id, no pixels, no unique keys) opens and migrates;
    its subjects keep their names, and an import's ID claims its legacy subject."""
    from nora_lab.archive import Archive
    from nora_lab.archive.dicom._archive import claim_legacy_subject

    arc = Archive.open(url, root=tmp_path / "data", user="alice")
    p = arc.create_project("old")
    p.add_subject("Test_Regression")
    owner = _db.make_engine(url)  # the schema's owner (on PostgreSQL, not alice)
    with _db.write(owner) as conn:  # back to version 3
        for _table, index in (("subjects", "ux_subjects_source"),
                             ("identities", "ux_identities_real_id")):
            conn.exec_driver_sql(f"DROP INDEX {index}")
        conn.exec_driver_sql("UPDATE subjects SET source_id = NULL")
        conn.exec_driver_sql("ALTER TABLE subjects DROP COLUMN source_id")
        cascade = " CASCADE" if conn.dialect.name == "postgresql" else ""  # its policies
        conn.exec_driver_sql("ALTER TABLE identities DROP COLUMN project_id" + cascade)
        conn.exec_driver_sql("ALTER TABLE dicom_instances DROP COLUMN pixels")
        conn.exec_driver_sql("UPDATE nora_settings SET value = '3' WHERE key = 'schema_version'")
    owner.dispose()
    arc.close()
    arc = Archive.open(url, root=tmp_path / "data", user="alice")
    with _db.read(arc.engine) as conn:
        assert _db.schema_version(conn) == _db.latest_version()
    p = arc.project("old")
    claim_legacy_subject(p, "Test^Regression")           # the ID the old import folded
    assert p.add_subject("Test^Regression", strict=True) == "Test_Regression"
    other = p.add_subject("Test Regression", strict=True)  # another ID, same old folder
    assert other != "Test_Regression"
    arc.close()


# --- all-or-nothing file writes --------------------------------------------------------

def _rows(proj) -> list[tuple]:
    f = t.files
    with _db.read(proj.archive.engine) as conn:
        return [tuple(r) for r in conn.execute(sa.select(f.c.series, f.c.name, f.c.sha256)
                                               .where(f.c.project_id == proj.pk)
                                               .order_by(f.c.series, f.c.name))]


def test_add_files_is_all_or_nothing_when_a_name_is_a_folder(proj):
    first = proj.add_bytes(b"old", "P1#S1", "a/one.nii")
    (proj.study_dir("P1#S1") / "a" / "three").mkdir()
    before = _rows(proj)
    with pytest.raises(AlreadyExistsError, match="three.*is a folder"):
        proj.add_files("P1#S1", [NewFile("a/one.nii", data=b"new"),
                                 NewFile("a/two.nii", data=b"2"),
                                 NewFile("a/three", data=b"3")], overwrite=True)
    assert first.read_bytes() == b"old"
    assert not (first.parent / "two.nii").exists()
    assert _rows(proj) == before
    assert fsck(proj).ok


def test_a_failed_rename_undoes_the_others_and_keeps_the_old_content(proj, monkeypatch):
    first = proj.add_bytes(b"old", "P1#S1", "a/one.nii")
    real_rename = os.rename
    calls = []

    def flaky(src, dst):
        calls.append(dst)
        if str(dst).endswith("three.nii"):
            raise OSError(28, "No space left on device", str(dst))
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", flaky)
    with pytest.raises(OSError, match="No space"):
        proj.add_files("P1#S1", [NewFile("a/one.nii", data=b"new"),
                                 NewFile("a/two.nii", data=b"2"),
                                 NewFile("a/three.nii", data=b"3")], overwrite=True)
    monkeypatch.setattr(os, "rename", real_rename)
    assert first.read_bytes() == b"old"
    assert sorted(p.name for p in first.parent.iterdir()) == ["one.nii"]
    assert len(proj.files()) == 1 and fsck(proj).ok


KILLER = textwrap.dedent("""
    import os, signal, sys
    from nora_lab.archive import Archive, journal
    step = sys.argv[3]
    original = getattr(journal.FileTransaction, step)
    def then_die(self, *a, **k):  # killed right after the renames, or right before the
        if step == "apply":        # backups are deleted (the transaction committed)
            original(self, *a, **k)
        os.kill(os.getpid(), signal.SIGKILL)
    setattr(journal.FileTransaction, step, then_die)
    p = Archive.open(sys.argv[1], root=sys.argv[2], user="alice").project("p")
    p.{call}
""")


def _killed(url, proj, step, call):
    code = KILLER.format(call=call)
    r = subprocess.run([sys.executable, "-c", code, url, str(proj.archive.root), step],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == -signal.SIGKILL, r.stderr


@pytest.mark.parametrize("step,survives", [("apply", b"old"), ("finish", b"new")])
def test_a_kill_mid_overwrite_is_finished_or_undone_by_fsck_repair(proj, url, step, survives):
    """Killed after the renames but before COMMIT: the old content comes back. Killed
    after COMMIT, before the backup was deleted: the new content stays."""
    path = proj.add_bytes(b"old", "P1#S1", "a/one.nii")
    _killed(url, proj, step, "add_bytes(b'new', 'P1#S1', 'a/one.nii', overwrite=True)")
    rep = fsck(proj)
    assert not rep.ok and len(rep.interrupted_writes) == 1, rep
    repaired = fsck(proj, repair=True)
    assert repaired.ok and len(repaired.recovered) == 1, repaired
    assert path.read_bytes() == survives
    assert fsck(proj).ok
    assert _rows(proj) == [("a", "one.nii", hashlib.sha256(survives).hexdigest())]
    assert sorted(p.name for p in path.parent.iterdir()) == ["one.nii"]


def test_a_kill_mid_study_delete_leaves_rows_and_folder_together(proj, url):
    proj.add_bytes(b"x", "P1#S1", "a/one.nii")
    _killed(url, proj, "apply", "delete_study('P1#S1')")
    assert fsck(proj, repair=True).ok
    assert (proj.study_dir("P1#S1") / "a" / "one.nii").read_bytes() == b"x"
    assert len(proj.studies()) == 1


# --- reserved names and fsck ----------------------------------------------------------

@pytest.mark.parametrize("rel", [".nora-tmp-1-x.nii", "a/.nora-old-abc-x.nii", ".nora-x/y"])
def test_names_reserved_for_the_archive_are_refused(proj, rel, tmp_path):
    with pytest.raises(UnsafePathError, match="reserved"):
        proj.add_bytes(b"x", "P1#S1", rel)
    hand_made = proj.study_dir("P1#S1") / ".nora-tmp-mine.nii"
    hand_made.parent.mkdir(parents=True, exist_ok=True)
    hand_made.write_bytes(b"x")
    with pytest.raises(UnsafePathError, match="reserved"):
        proj.register(hand_made)


def test_fsck_repair_goes_on_past_what_it_cannot_repair(proj, tmp_path):
    study = proj.study_dir("P1#S1")
    (study / "a").mkdir(parents=True)
    outside = tmp_path / "secret.txt"
    outside.write_text("not the archive's")
    (study / "a" / "link.nii").symlink_to(outside)
    (study / "a" / "found.nii").write_bytes(b"a file no row knows")
    (study / "a" / ".nora-tmp-123-x.nii").write_bytes(b"debris")
    rep = fsck(proj, repair=True)
    assert not rep.ok
    assert [(p.rsplit("/", 1)[1], "symbolic link" in why) for p, why in rep.unrepaired] == [
        ("link.nii", True)]
    assert "found.nii" in " ".join(proj.files()["path"])     # the rest was repaired
    assert not (study / "a" / ".nora-tmp-123-x.nii").exists()
    assert outside.read_text() == "not the archive's"


# --- SQL -------------------------------------------------------------------------------

LOOP = ("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) "
        "SELECT count(*) FROM r")


def test_sql_of_an_admin_has_a_time_limit_and_a_one_line_error(archive):
    with pytest.raises(ArchiveError, match="stopped after 1 s"):
        archive.sql(LOOP, timeout=1)
    with pytest.raises(ArchiveError) as err:
        archive.sql("SELEC 1")
    assert "\n" not in str(err.value) and "SELEC" in str(err.value)
    assert archive.sql("SELECT 1 AS one")["one"].tolist() == [1]  # the archive still answers


def test_sql_of_a_reader_has_a_time_limit_and_creates_no_files(archive, proj, tmp_path, login):
    archive.add_user("bob")
    archive.grant("p", "bob", "reader")
    bob = login("bob")
    with pytest.raises(ArchiveError, match="stopped after 1 s"):
        bob.sql(LOOP, timeout=1)
    for stmt in (f"ATTACH DATABASE '{tmp_path / 'x.db'}' AS x",
                 f"VACUUM INTO '{tmp_path / 'y.db'}'"):
        with pytest.raises(ArchiveError, match="refused|syntax error"):  # not PostgreSQL's
            bob.sql(stmt)
    assert not (tmp_path / "x.db").exists() and not (tmp_path / "y.db").exists()

"""Real Linux users on one shared archive (PostgreSQL by peer authentication, one project
folder protected by Unix groups and ACLs): two editors import, one after the other and at
once, also after one's import was killed; a reader reads but cannot change; a user
without a right can neither list nor read the project, nor see its rows.

Needs root (``useradd``, ``setfacl``); CI runs as root. The users are machine-wide, so a
second run of this module waits for the first.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from nora_lab.archive import Archive, fsrights
from nora_lab.testing import soak

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

USERS = ("nl-alice", "nl-bob", "nl-rita", "nl-mal")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def linux_users():
    if os.geteuid() != 0:
        pytest.fail("this test creates Linux users: run it as root", pytrace=False)
    lock = open("/tmp/nora-fs-rights-test.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    for user in USERS:
        subprocess.run(["useradd", "-M", "-s", "/bin/sh", user], capture_output=True)
    yield USERS
    for user in USERS:
        subprocess.run(["userdel", user], capture_output=True)
    for group in fsrights.group_names("fsr"):
        subprocess.run(["groupdel", group], capture_output=True)
    lock.close()


@pytest.fixture(scope="module")
def shared(linux_users, pg_server, dicom_dir):
    """The archive, project ``fsr`` (nl-alice and nl-bob edit, nl-rita reads, nl-mal has
    no right), its folder synced to the rights, and DICOM every user can read."""
    base = Path(tempfile.mkdtemp(prefix="nora-fsr-", dir="/tmp"))
    base.chmod(0o755)
    src = base / "dicom"
    (src / "ge").mkdir(parents=True)
    # one series of its own for every import (the archive files an instance once)
    soak.make_series(dicom_dir / "dcm_qa_ts" / "In" / "1.dcm", src, n=6)
    for f in sorted((dicom_dir / "dcm_qa_ge" / "In").rglob("*")):
        if f.is_file():
            shutil.copy(f, src / "ge" / f.name)
    for p in [src, *src.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    # a Python every user can run (the suite's may live under root's home)
    venv = subprocess.run(["bash", str(REPO / "scripts" / "hub" / "lab_venv.sh"),
                           str(base / "venv"), str(Path(sys.prefix))],
                          capture_output=True, text=True, check=True).stdout.strip()
    url = pg_server.create_database()
    admin = Archive.open(url, root=base / "data")
    admin.create_project("fsr")
    for user in linux_users:
        admin.add_user(user)
    for user, role in (("nl-alice", "editor"), ("nl-bob", "editor"), ("nl-rita", "reader")):
        admin.grant("fsr", user, role)
    synced = admin.fs_sync("fsr")
    assert synced["editors"] == ["nl-alice", "nl-bob"] and synced["skipped"] == [
        admin.user]  # the administrator role has no Linux account here
    (base / "data").chmod(0o755)
    db = url.rsplit("/", 1)[1]
    yield {"base": base, "src": src, "root": base / "data", "project": base / "data" / "fsr",
           "db": db, "admin": admin, "nora": str(Path(venv) / "bin" / "nora")}
    admin.close()
    shutil.rmtree(base, ignore_errors=True)


def _env(shared, user, pg_server) -> list[str]:
    peer = (f"postgresql://{user}@/{shared['db']}?host={pg_server.socket_dir}"
            f"&port={pg_server.port}")
    return [f"NORA_DB={peer}", f"NORA_ROOT={shared['root']}", "HOME=/tmp",
            f"PATH={os.environ['PATH']}", "JUPYTERHUB_USER=nl-alice"]  # the last is ignored


def _as(user, shared, pg_server, *cmd, popen=False):
    argv = ["runuser", "-u", user, "--", "env", *_env(shared, user, pg_server), *cmd]
    if popen:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                errors="replace")
    return subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=600)


def _import(user, shared, pg_server, folder, patient, popen=False):
    return _as(user, shared, pg_server, shared["nora"], "-p", "fsr", "--import", str(folder),
               "--patients_id", patient, popen=popen)


def test_two_editors_import_in_turn_and_at_once(shared, pg_server):
    first = _import("nl-alice", shared, pg_server, shared["src"] / "series0", "A1")
    assert first.returncode == 0, first.stderr
    second = _import("nl-bob", shared, pg_server, shared["src"] / "series1", "B1")
    assert second.returncode == 0, second.stderr  # alice's lock files do not block bob
    both = [_import(u, shared, pg_server, shared["src"] / folder, p, popen=True)
            for u, p, folder in (("nl-alice", "A2", "series2"), ("nl-bob", "B2", "series5"))]
    for proc in both:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    studies = shared["admin"].project("fsr").studies()["psid"].tolist()
    assert {s.split("#")[0] for s in studies} == {"A1", "B1", "A2", "B2"}
    nii = next((shared["project"] / "A1").rglob("*.nii.gz"))
    assert nii.stat().st_uid == int(subprocess.check_output(["id", "-u", "nl-alice"]))


def test_a_killed_import_of_one_editor_does_not_block_the_other(shared, pg_server):
    killed = _import("nl-alice", shared, pg_server, shared["src"] / "ge", "K1", popen=True)
    time.sleep(2.0)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    after = _import("nl-bob", shared, pg_server, shared["src"] / "series3", "K2")
    assert after.returncode == 0, after.stderr
    assert list((shared["project"] / "K2").rglob("*.nii.gz"))


def test_a_reader_reads_but_cannot_change_and_a_stranger_sees_nothing(shared, pg_server):
    _import("nl-alice", shared, pg_server, shared["src"] / "series4", "R1")
    nii = str(next((shared["project"] / "R1").rglob("*.nii.gz")))
    assert _as("nl-rita", shared, pg_server, "cat", nii).returncode == 0
    write = _as("nl-rita", shared, pg_server, "sh", "-c", f"echo x >> '{nii}'")
    assert write.returncode != 0 and "Permission denied" in write.stderr
    assert _as("nl-bob", shared, pg_server, "sh", "-c", f": >> '{nii}'").returncode == 0
    for cmd in (["ls", str(shared["project"])], ["cat", nii]):
        r = _as("nl-mal", shared, pg_server, *cmd)
        assert r.returncode != 0 and "Permission denied" in r.stderr, cmd
    q = _as("nl-mal", shared, pg_server, shared["nora"], "-q", "SELECT * FROM files")
    assert q.returncode == 0 and json.loads(q.stdout) == [], q.stderr
    sel = _as("nl-mal", shared, pg_server, shared["nora"], "-p", "fsr", "-s", "*")
    assert sel.returncode == 1 and "nl-mal" in sel.stderr  # who they are, whatever the env


def test_a_user_on_another_node_logs_in_over_tcp_with_the_password_in_their_own_pgpass(
        shared, pg_server):
    """``nora --adduser U --pgpass HOST:PORT`` (root) gives U's role a fresh password in
    U's own ``~/.pgpass`` (0600): U then logs in over TCP with a URL that names no user and
    carries no password; another user, without it, is refused by PostgreSQL."""
    home = shared["base"] / "home-rita"
    home.mkdir()
    shutil.chown(home, "nl-rita")
    home.chmod(0o700)
    subprocess.run(["usermod", "-d", str(home), "nl-rita"], check=True)
    admin_url = shared["admin"].engine.url.render_as_string(hide_password=False)
    issued = subprocess.run(
        [shared["nora"], "--adduser", "nl-rita", "--pgpass", f"127.0.0.1:{pg_server.port}"],
        env={**os.environ, "NORA_DB": admin_url}, capture_output=True, text=True)
    assert issued.returncode == 0, issued.stderr
    pgpass = home / ".pgpass"
    assert issued.stdout.strip() == str(pgpass)
    st = pgpass.stat()
    assert oct(st.st_mode & 0o777) == "0o600" and st.st_uid == int(
        subprocess.check_output(["id", "-u", "nl-rita"]))
    tcp = f"postgresql://127.0.0.1:{pg_server.port}/{shared['db']}"
    who = ("from nora_lab.archive import Archive; a = Archive.open(); "
           "print(a.user, sorted(a.projects()['name']))")

    def as_user(user, *cmd):
        return subprocess.run(["runuser", "-u", user, "--", "env", f"NORA_DB={tcp}",
                               f"NORA_ROOT={shared['root']}", f"HOME={home}",
                               f"PATH={os.environ['PATH']}", *cmd],
                              capture_output=True, text=True, timeout=120)

    python = str(Path(shared["nora"]).with_name("python"))
    rita = as_user("nl-rita", python, "-c", who)
    assert rita.returncode == 0, rita.stderr
    assert rita.stdout.split() == ["nl-rita", "['fsr']"]
    stolen = as_user("nl-mal", "cat", str(pgpass))
    assert stolen.returncode != 0 and "Permission denied" in stolen.stderr
    mal = as_user("nl-mal", shared["nora"], "--projects")
    assert mal.returncode == 1 and ("password authentication failed" in mal.stderr
                                    or "no password supplied" in mal.stderr), mal.stderr
    # a second issue replaces the line (the old password no longer works), keeps the others
    pgpass.write_text(pgpass.read_text() + "otherhost:5432:db:nl-rita:keep\n")
    again = subprocess.run(
        [shared["nora"], "--adduser", "nl-rita", "--pgpass", f"127.0.0.1:{pg_server.port}"],
        env={**os.environ, "NORA_DB": admin_url}, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    lines = pgpass.read_text().splitlines()
    assert len(lines) == 2 and "otherhost:5432:db:nl-rita:keep" in lines
    assert as_user("nl-rita", python, "-c", who).returncode == 0


def test_fs_sync_on_the_command_line_needs_root_and_a_project(shared, pg_server):
    admin_url = shared["admin"].engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "NORA_DB": admin_url}
    done = subprocess.run([shared["nora"], "-p", "fsr", "--fs-sync"], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "editors: ['nl-alice', 'nl-bob']" in done.stdout
    bare = subprocess.run([shared["nora"], "--fs-sync"], env=env, capture_output=True, text=True)
    assert bare.returncode == 2 and "--fs-sync needs a project" in bare.stderr
    # a lab user (not root) is told to ask root, in one line
    mal = _as("nl-mal", shared, pg_server, shared["nora"], "-p", "fsr", "--fs-sync")
    assert mal.returncode == 1 and len(mal.stderr.strip().splitlines()) == 1, mal.stderr

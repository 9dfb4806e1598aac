"""The whole lab, for real: scripts/hub/up.sh, two Linux users, labs as Slurm jobs.

One hub for the module (``lab`` in conftest.py). alice spawns through the hub's REST API;
bob logs in with his password (PAM) and spawns through the options form. alice's kernel
opens the archive as alice and runs a batch through SLURMCluster; bob is refused alice's
project by the archive, by a shared link and by the REST import; alice's REST import lands
in her project, written by her.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import time

import pytest
from hubtest import Browser, dicom_zip, wait_until

from nora_lab.archive import Archive
from nora_lab.server.hubapi import HubError

pytestmark = [pytest.mark.hub, pytest.mark.slurm, pytest.mark.postgres, pytest.mark.slow]

ALICE, BOB = "nora-alice", "nora-bob"

SETUP_ALICE = """
import nibabel as nib, numpy as np
from nora_lab.archive import Archive
arc = Archive.open()
proj = arc.create_project("alice-study", exist_ok=True)
proj.add_subject("P001")
proj.add_study("P001", "S1", date="2020-01-01")
img = nib.Nifti1Image(np.arange(512, dtype=np.float32).reshape(8, 8, 8), np.eye(4))
proj.add_image(img, "P001#S1", "3_t1/t1.nii.gz", overwrite=True)
print("setup as", arc.user)
"""


@pytest.fixture(scope="module")
def labs(lab):
    """Both labs running; what the spawns answered on the way."""
    hub = lab.hub
    with Archive.open(lab.facts["NORA_ADMIN_DB"], user="nora-admin") as arc:
        assert arc.is_admin, "up.sh must make NORA_HUB_ARCHIVE_ADMIN the archive's admin"
        arc.create_project("bob-study", exist_ok=True)
        arc.grant("bob-study", BOB, "editor")
    out = {}
    # an option outside the limits: refused with the reason, no job submitted
    hub.add_user(ALICE)
    out["refused"] = hub.call("POST", f"users/{ALICE}/server", {"partition": "nope"})
    wait_until(lambda: not (hub.user(ALICE)["servers"].get("") or {}).get("pending"), 60,
               "the refused spawn to end")
    # alice through the API, bob through PAM login and the options form, at the same time
    t0 = time.monotonic()
    hub.request_spawn(ALICE, partition="proc", cores=1, memory="1G", walltime="00:30:00")
    bob = Browser(lab.url)
    status, url, form = bob.login(BOB, lab.passwords[BOB])
    out["bob_login"] = (status, url, form)
    if url.endswith("/hub/spawn"):
        out["bob_spawn"] = bob.open(Browser.form_action(form), {
            "partition": "import", "cores": "1", "memory": "1G", "walltime": "00:20:00"})
    try:
        out["alice_server"] = hub.wait_ready(ALICE, timeout=300)
        out["bob_server"] = hub.wait_ready(BOB, timeout=300)
    except HubError as exc:
        pytest.fail(f"{exc}\n--- hub log:\n{lab.log_tail()}", pytrace=False)
    out["spawn_seconds"] = time.monotonic() - t0
    out["alice"] = hub.lab(ALICE)
    out["bob"] = hub.lab(BOB)
    out["bob_browser"] = bob
    out["setup"] = out["alice"].execute(SETUP_ALICE)
    return out


def squeue(lab):
    env = {**os.environ, "SLURM_CONF": lab.facts["SLURM_CONF"]}
    lines = subprocess.run(["squeue", "-h", "-o", "%u %P %j %T %C %m"], env=env,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    return [line.split() for line in lines]


def test_pam_checks_the_password(lab):
    status, url, _ = Browser(lab.url).login(BOB, "not-his-password")
    assert status == 403 and url.endswith("/hub/login?next=") or "/hub/login" in url


def test_a_spawn_option_outside_the_limits_is_refused_with_the_reason(labs, lab):
    status, body = labs["refused"]
    assert status == 400
    assert "partition 'nope' is not offered; choose one of proc, import" in body["message"]


def test_bob_got_the_options_form_after_logging_in(labs):
    status, url, form = labs["bob_login"]
    assert status == 200 and url.endswith("/hub/spawn")
    assert '<option value="proc" selected>proc</option>' in form
    assert '<option value="import">import</option>' in form
    assert 'name="cores"' in form and 'name="memory"' in form and 'name="walltime"' in form


def test_both_labs_are_slurm_jobs_of_their_users_and_answer_through_the_proxy(labs, lab):
    assert labs["alice"].get("api/status")["started"]
    assert labs["bob"].get("api/status")["started"]
    jobs = {(u, part) for u, part, name, state, *_ in squeue(lab)
            if name == "nora-lab" and state == "RUNNING"}
    assert {(ALICE, "proc"), (BOB, "import")} <= jobs
    bob_job = next(j for j in squeue(lab) if j[0] == BOB and j[2] == "nora-lab")
    assert bob_job[4:] == ["1", "1G"]  # the form's cores and memory
    assert labs["setup"].strip() == f"setup as {ALICE}"


def test_alice_kernel_sees_only_her_projects_and_runs_a_batch_on_slurm_as_alice(labs):
    out = labs["alice"].execute("""
import getpass, os, pathlib
from nora_lab.archive import Archive
from nora_lab.batch import Batch, Job, launch
arc = Archive.open()
print("archive user:", arc.user, "os user:", getpass.getuser())
print("projects:", sorted(arc.projects()["name"]))
proj = arc.project("alice-study")
b = Batch("whoami", [Job.bash("id -un > $o1; echo $SLURM_JOB_ID >> $o1", o1="derived/who.txt")])
run = launch(b, proj, backend="slurm", queue="proc", interface="lo", memory="1GB",
             walltime="00:10:00", local_directory=os.path.expanduser("~/dask-space"),
             scheduler_options={"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"},
             wait=True, progress=False)
st = run.states()
print("states:", list(st["state"]), "worker:", list(st["worker"]))
print("who:", (proj.study_dir("P001#S1") / "derived/who.txt").read_text().split())
""", timeout=400)
    lines = dict(line.split(": ", 1) for line in out.strip().splitlines())
    assert lines["archive user"] == f"{ALICE} os user: {ALICE}"
    assert lines["projects"] == "['alice-study']"
    assert lines["states"].startswith("['d']") and "slurm:" in lines["states"]
    who, job_id = eval(lines["who"])  # noqa: S307 - our own printed list
    assert who == ALICE and job_id.isdigit()


def test_bob_is_refused_alice_project_by_the_archive_a_link_and_the_rest_import(labs, lab,
                                                                                tmp_path):
    out = labs["bob"].execute("""
from nora_lab.archive import Archive
from nora_lab.errors import NotFoundError
arc = Archive.open()
print("projects:", sorted(arc.projects()["name"]))
try:
    arc.project("alice-study")
    print("opened!")
except NotFoundError as exc:
    print("refused:", exc)
""")
    assert "projects: ['bob-study']" in out
    assert "refused: no project 'alice-study' visible to user 'nora-bob'" in out

    # alice shares what she looks at; the link opens for her, and is refused to bob
    state = {"psid": "P001#S1", "layers": [{"path": "P001/S1/3_t1/t1.nii.gz",
                                            "role": "background", "viewports": [0]}]}
    status, shared, _ = labs["alice"].call("POST", "nora/api/share?project=alice-study",
                                           {"state": state})
    assert status == 201, shared
    link = shared["url"]
    assert link.startswith(f"{lab.url}/hub/user-redirect/nora/open?project=alice-study&share=")
    status, url, page = labs["bob_browser"].open(link)
    assert status == 403 and url.startswith(f"{lab.url}/user/{BOB}/nora/open")
    assert "has no right on project &#x27;alice-study&#x27;" in page
    alice_browser = Browser(lab.url)
    alice_browser.login(ALICE, lab.passwords[ALICE])
    status, url, _ = alice_browser.open(link)
    assert status == 200 and url.startswith(f"{lab.url}/user/{ALICE}/lab/tree/nora-links/")
    shown = labs["alice"].execute(f"""
from nora_lab.archive import Archive
from nora_lab.widgets import open_link
v = open_link(Archive.open().project("alice-study"), share={shared['id']!r})
print([layer["name"] for layer in v.layers])
""")
    assert shown.strip() == "['t1']"

    # bob's REST import into alice's project: 403 before the upload is kept
    z = dicom_zip(tmp_path / "exam.zip")
    status, body, _ = labs["bob"].call("POST", "nora/api/import?project=alice-study",
                                       raw=z.read_bytes(),
                                       headers={"Content-Type": "application/zip"})
    assert status == 403 and "no right on project 'alice-study'" in body["message"]


def test_alice_rest_import_lands_in_her_project_written_by_her(labs, lab, tmp_path):
    z = dicom_zip(tmp_path / "exam.zip")
    status, job, _ = labs["alice"].call("POST", "nora/api/import?project=alice-study",
                                        raw=z.read_bytes(),
                                        headers={"Content-Type": "application/zip"})
    assert status == 202, job

    def finished():
        state = labs["alice"].get(f"nora/api/import/{job['id']}")
        return state if state["state"] in ("done", "failed") else None
    state = wait_until(finished, 240, "alice's REST import")
    assert state["state"] == "done", state["message"]
    with Archive.open(lab.facts["NORA_ADMIN_DB"], user="nora-admin") as arc:
        files = arc.project("alice-study").files()
    imported = [p for p in files["path"] if "1CT1" in p and p.endswith(".nii.gz")]
    assert imported, json.dumps(state)[:2000]
    assert os.stat(imported[0]).st_uid == pwd.getpwnam(ALICE).pw_uid


def test_no_lab_is_trusted_by_postgresql_nor_logs_in_as_another_role(labs, lab):
    """up.sh's server as a site's: no ``trust`` line; alice's lab is alice's role by peer,
    and may neither log in as the administrator role or the superuser (peer over the
    socket, no password over TCP) nor become bob."""
    hba = (lab.base / "pg" / "data" / "pg_hba.conf").read_text()
    rules = [line.split() for line in hba.splitlines() if line.strip() and line[0] != "#"]
    assert rules and not [r for r in rules if "trust" in r]
    out = labs["alice"].execute(f"""
import psycopg
sock, port = {str(lab.base / "pg" / "sock")!r}, {lab.facts["NORA_HUB_PG_PORT"]!r}
with psycopg.connect(host=sock, port=port, dbname="nora") as c:
    print("peer:", c.execute("SELECT current_user, rolsuper FROM pg_roles "
                             "WHERE rolname = current_user").fetchone())
    try:
        c.execute('SET ROLE "{BOB}"')
        print("set role bob!")
    except psycopg.Error as exc:
        print("set role refused:", type(exc).__name__)
for host, user in ((sock, "nora_admin"), (sock, "postgres"), ("127.0.0.1", "nora_admin"),
                   ("127.0.0.1", "postgres"), ("127.0.0.1", {ALICE!r})):
    try:
        psycopg.connect(host=host, port=port, dbname="nora", user=user, connect_timeout=5)
        print("logged in as", user, "via", host)
    except psycopg.OperationalError as exc:
        print("refused", user, "via", "socket" if host == sock else "tcp")
""")
    assert f"peer: ('{ALICE}', False)" in out
    assert "set role refused: InsufficientPrivilege" in out
    assert "logged in as" not in out, out
    assert out.count("refused ") == 5, out

"""The server extension on real ``jupyter server`` processes: links, rights, REST import.

alice is an editor of ``alpha``; bob has no right on it and is a reader of ``shared``.
Each runs their own server (as ``$JUPYTERHUB_USER``), both on one archive.
"""

from __future__ import annotations

import html
import json
import os
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from hubtest import REPO, JupyterServer, dicom_zip, wait_until

from nora_lab.archive import Archive
from nora_lab.server.hubapi import _request

pytestmark = [pytest.mark.hub, pytest.mark.slow]

LIMIT = 400_000  # NORA_IMPORT_MAX_BYTES of the test servers


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    import nibabel as nib
    import numpy as np

    tmp = tmp_path_factory.mktemp("servers")
    db = f"sqlite:///{tmp / 'archive.sqlite'}"
    admin = Archive.open(db, root=tmp / "data", user="admin")
    for user in ("alice", "bob"):
        admin.add_user(user)
    admin.create_project("alpha")
    admin.grant("alpha", "alice", "editor")
    admin.create_project("shared")
    admin.grant("shared", "bob", "reader")
    alpha = admin.project("alpha")
    for sid in ("P001", "P002"):
        alpha.add_subject(sid)
    alpha.add_study("P001", "S1", date="2021-05-01")
    alpha.add_study("P002", "S2", date="2021-02-01")
    alpha.add_study("P002", "S1", date="2020-01-01")
    img = nib.Nifti1Image(np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6), np.eye(4))
    alpha.add_image(img, "P001#S1", "3_t1/t1.nii.gz", tags=["t1"])
    admin.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "NORA_"))}
    env.update(NORA_DB=db, NORA_ROOT=str(tmp / "data"),
               JUPYTER_CONFIG_PATH=str(REPO / "jupyter-config"),
               NORA_IMPORT_MAX_BYTES=str(LIMIT))
    out = {}
    for user in ("alice", "bob"):
        out[user] = JupyterServer(user, tmp / f"{user}-root", {
            **env, "JUPYTERHUB_USER": user, "NORA_HOME": str(tmp / f"{user}-home"),
            "JUPYTER_RUNTIME_DIR": str(tmp / f"{user}-runtime")}).start()
    try:
        for s in out.values():
            s.wait()
        yield {"alice": out["alice"], "bob": out["bob"], "db": db, "root": tmp / "data",
               "tmp": tmp}
    finally:
        for s in out.values():
            s.stop()


def call(server, method, path, data=None, *, token=True, **kw):
    return _request(method, server.url + path, server.token if token else None, data, **kw)


def post_zip(server, project, path: Path, *, token=True, query=""):
    return call(server, "POST", f"nora/api/import?project={project}{query}", token=token,
                raw=path.read_bytes(), headers={"Content-Type": "application/zip"})


def wait_job(server, job_id, timeout=180):
    def final():
        status, state, _ = call(server, "GET", f"nora/api/import/{job_id}")
        assert status == 200, state
        return state if state["state"] in ("done", "failed") else None
    return wait_until(final, timeout, f"import job {job_id}")


def archive(servers, user="admin"):
    return Archive.open(servers["db"], root=servers["root"], user=user)


def job_dirs(servers, user):
    d = servers["tmp"] / f"{user}-home" / "imports"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


# --- the extension is there ------------------------------------------------------------------


def test_the_repo_config_enables_the_extension_in_a_plain_server(servers):
    status, body, _ = call(servers["alice"], "GET", "nora/api/import")
    assert status == 200 and body == {"jobs": []} or "jobs" in body
    assert "nora_lab.server | extension was successfully loaded" in servers["alice"].log()


# --- URL calls ---------------------------------------------------------------------------------


def test_url_call_writes_a_notebook_with_the_preset_and_redirects_to_it(servers):
    call_json = json.dumps({"pid": "P001", "sid": "S1", "preset": "t1 axial"})
    status, _, headers = call(servers["alice"], "GET",
                              f"nora/open?project=alpha&call={call_json}".replace(" ", "%20"))
    assert status == 302
    assert headers["Location"] == "/lab/tree/nora-links/alpha_P001_S1_t1_axial.ipynb"
    nb = nbformat.read(servers["alice"].root_dir / "nora-links/alpha_P001_S1_t1_axial.ipynb", 4)
    assert nb.metadata["nora_link"]["state"] == {"psid": "P001#S1", "preset": "t1 axial",
                                                "selmode": None}
    code = nb.cells[1].source
    assert "Archive.open().project('alpha')" in code and "'preset': 't1 axial'" in code


def test_url_call_without_sid_opens_the_subjects_first_study(servers):
    status, body, _ = call(servers["alice"], "GET",
                           'nora/open?project=alpha&format=json&call={"pid":"P002"}')
    assert status == 200 and body["state"]["psid"] == "P002#S1"


def test_url_call_to_a_missing_study_is_404_naming_it(servers):
    status, body, _ = call(servers["alice"], "GET",
                           'nora/open?project=alpha&call={"pid":"P001","sid":"S9"}')
    assert status == 404 and "P001#S9" in body
    status, body, _ = call(servers["alice"], "GET",
                           'nora/open?project=alpha&call={"pid":"50%25","sid":"S1"}')
    assert status == 404 and "no study &#x27;50%#S1&#x27;" in body  # a '%' is no format


@pytest.mark.parametrize("bad, why", [
    ('{"pid":"P001","token":"abc"}', "credentials never go in a URL"),
    ('{"pid":"P001","color":"red"}', "unknown key(s) color"),
    ("[1,2]", "expected a JSON object"),
    ("{oops", "not JSON"),
    ('{"pid":"P001","user":"mallory"}', "this link names user"),
])
def test_bad_url_calls_are_refused_with_the_reason(servers, bad, why):
    status, body, _ = call(servers["alice"], "GET", f"nora/open?project=alpha&call={bad}")
    assert status in (400, 403) and why in html.unescape(body)


def test_a_token_in_the_url_is_refused_on_every_nora_route(servers):
    s = servers["alice"]
    for path in ('nora/open?project=alpha&call={"pid":"P001"}', "nora/api/import",
                 "nora/api/import/" + "0" * 32):
        status, body, _ = call(s, "GET", f"{path}{'&' if '?' in path else '?'}token={s.token}",
                               token=False)
        assert status == 400 and "Authorization header" in str(body), path


def test_a_user_without_a_right_gets_403_and_how_to_get_access(servers):
    status, body, _ = call(servers["bob"], "GET",
                           'nora/open?project=alpha&call={"pid":"P001","sid":"S1"}')
    assert status == 403
    text = html.unescape(body)
    assert "user 'bob' has no right on project 'alpha'" in text and "--grant bob reader" in text
    assert not (servers["bob"].root_dir / "nora-links").exists()


def test_unauthenticated_link_redirects_to_login(servers):
    status, _, headers = call(servers["alice"], "GET",
                              'nora/open?project=alpha&call={"pid":"P001"}',
                              token=False)
    assert status == 302 and "/login" in headers["Location"]


# --- the viewer's ES module over HTTP ----------------------------------------------------------


def test_the_viewer_module_is_served_once_per_browser_under_its_bundle_hash(servers):
    from nora_lab.widgets.viewer import _bundle_hash

    s, digest = servers["alice"], _bundle_hash()
    status, body, headers = call(s, "GET", f"nora/static/viewer-{digest}.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert f"source-sha256: {digest}" in body[:400] and "immutable" in headers["Cache-Control"]
    status, _, headers = call(s, "GET", f"nora/static/viewer-{digest}.js",
                              headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert int(headers["Content-Length"]) < 0.5 * len(body)
    # another version of the bundle: the loader falls back to asking its kernel
    assert call(s, "GET", "nora/static/viewer-0123456789abcdef.js")[0] == 404
    status, _, headers = call(s, "GET", f"nora/static/viewer-{digest}.js", token=False)
    assert status == 302 and "/login" in headers["Location"]


# --- shared links ------------------------------------------------------------------------------


STATE = {"psid": "P001#S1", "layout": "1",
         "layers": [{"path": "P001/S1/3_t1/t1.nii.gz", "role": "background", "viewports": [0],
                     "colormap": "gray", "window": [10, 50]}]}


def test_share_saves_the_state_and_the_link_opens_it_for_alice_only(servers):
    status, body, _ = call(servers["alice"], "POST", "nora/api/share?project=alpha",
                           {"state": STATE, "name": "case-1"})
    assert status == 201 and body["id"] == "case-1"
    assert body["url"].startswith(servers["alice"].url + "nora/open?")
    with archive(servers) as arc:
        saved = arc.project("alpha").get_json("share", "case-1")
    assert saved["layers"] == STATE["layers"] and saved["shared_by"] == "alice"
    link = body["url"][len(servers["alice"].url):]
    status, _, headers = call(servers["alice"], "GET", link)
    assert status == 302 and headers["Location"].endswith("alpha_share_case-1.ipynb")
    status, page, _ = call(servers["bob"], "GET", link)
    assert status == 403 and "no right on project" in html.unescape(page)


def test_sharing_again_under_the_same_name_overwrites(servers):
    for window in ([1, 2], [3, 4]):
        state = {**STATE, "layers": [{**STATE["layers"][0], "window": window}]}
        status, _, _ = call(servers["alice"], "POST", "nora/api/share?project=alpha",
                            {"state": state, "name": "again"})
        assert status == 201
    with archive(servers) as arc:
        assert arc.project("alpha").get_json("share", "again")["layers"][0]["window"] == [3, 4]


def test_a_reader_may_not_share_and_a_bad_state_is_refused(servers):
    status, body, _ = call(servers["bob"], "POST", "nora/api/share?project=shared",
                           {"state": STATE})
    assert status == 403 and "needs the editor role" in body["message"]
    status, body, _ = call(servers["alice"], "POST", "nora/api/share?project=alpha",
                           {"state": {"layers": [{"file": 1}]}})
    assert status == 400 and '"path"' in body["message"]


def test_opening_a_missing_share_is_404(servers):
    status, body, _ = call(servers["alice"], "GET", "nora/open?project=alpha&share=nope")
    assert status == 404 and "no share named 'nope'" in html.unescape(body)


# --- REST import -------------------------------------------------------------------------------


def test_import_needs_authentication(servers, tmp_path):
    status, body, _ = post_zip(servers["alice"], "alpha", dicom_zip(tmp_path / "a.zip"),
                               token=False)
    assert status == 403 and "authentication required" in body["message"]
    assert job_dirs(servers, "alice") == [] or all(
        (servers["tmp"] / "alice-home/imports" / d / "state.json").exists()
        for d in job_dirs(servers, "alice"))


@pytest.mark.parametrize("member, why", [
    ("../evil.dcm", "climbs out with '..'"),
    ("/etc/evil.dcm", "is an absolute path"),
    ("C:/evil.dcm", "names a drive"),
    ("a\\..\\..\\evil.dcm", "climbs out"),
])
def test_zip_slip_is_refused_before_anything_is_written(servers, tmp_path, member, why):
    before = job_dirs(servers, "alice")
    z = tmp_path / "slip.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("ok.dcm", b"\0" * 128 + b"DICM" + b"\0" * 16)
        zf.writestr(member, b"\0" * 128 + b"DICM" + b"\0" * 16)
    status, body, _ = post_zip(servers["alice"], "alpha", z)
    assert status == 400 and "zip slip" in body["message"] and why in body["message"]
    assert job_dirs(servers, "alice") == before  # the refused upload left nothing
    assert not (servers["root"] / "evil.dcm").exists()


def test_an_upload_over_the_size_limit_is_413(servers, tmp_path):
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("x.dcm", b"\0" * 128 + b"DICM" + os.urandom(LIMIT + (2 << 20)))
    status, body, _ = post_zip(servers["alice"], "alpha", big)
    assert status == 413 and "over the limit" in (body["message"] if isinstance(body, dict)
                                                    else body)


def test_non_dicom_content_is_refused_naming_the_files(servers, tmp_path):
    z = dicom_zip(tmp_path / "mixed.zip", extra={"exam/notes.txt": b"hello",
                                                 "exam/img.nii": b"\x5c\x01" + b"\0" * 400})
    status, body, _ = post_zip(servers["alice"], "alpha", z)
    assert status == 400
    assert "2 of 4 files are not DICOM" in body["message"] and "exam/notes.txt" in body["message"]
    status, body, _ = call(servers["alice"], "POST", "nora/api/import?project=alpha",
                           raw=b"not a zip at all", headers={"Content-Type": "application/zip"})
    assert status == 400 and "not a zip archive" in body["message"]


def test_bob_may_not_import_into_alpha_nor_as_a_reader(servers, tmp_path):
    z = dicom_zip(tmp_path / "a.zip")
    status, body, _ = post_zip(servers["bob"], "alpha", z)
    assert status == 403 and "no right on project 'alpha'" in body["message"]
    status, body, _ = post_zip(servers["bob"], "shared", z)
    assert status == 403 and "needs the editor role" in body["message"]


def test_a_good_zip_lands_in_the_project_and_the_job_can_be_polled(servers, tmp_path):
    z = dicom_zip(tmp_path / "exam.zip", extra={"__MACOSX/._ct.dcm": b"junk"})
    t0 = time.monotonic()
    status, job, headers = post_zip(servers["alice"], "alpha", z)
    assert status == 202 and job["state"] == "queued", job
    assert headers["Location"] == f"/nora/api/import/{job['id']}"
    assert job["checked"] == {"dicom_files": 2, "ignored": 1, "unzipped_bytes": job["checked"][
        "unzipped_bytes"]}
    state = wait_job(servers["alice"], job["id"])
    assert state["state"] == "done", state["message"]
    assert time.monotonic() - t0 < 180
    assert sorted(state["studies"]) == ["1CT1#1CT1", "4MR1#4MR1"]
    with archive(servers) as arc:
        files = arc.project("alpha").files(psid="1CT1#1CT1")
    assert any(p.endswith(".nii.gz") for p in files["path"])
    # the upload is gone once imported; bob cannot read alice's job
    job_dir = servers["tmp"] / "alice-home/imports" / job["id"]
    assert not (job_dir / "upload.zip").exists()
    status, _, _ = call(servers["bob"], "GET", f"nora/api/import/{job['id']}")
    assert status == 404
    status, listing, _ = call(servers["alice"], "GET", "nora/api/import")
    assert job["id"] in [j["id"] for j in listing["jobs"]]

    # the same zip again, sent as NORA's multipart form: nothing new, still done
    boundary = "nora-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"call\"\r\n\r\n"
            '{"cmd":"import"}\r\n'
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"thefile\"; "
            f"filename=\"exam.zip\"\r\nContent-Type: application/zip\r\n\r\n").encode() + \
        z.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    status, job2, _ = call(servers["alice"], "POST", "nora/api/import?project=alpha", raw=body,
                           headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 202, job2
    again = wait_job(servers["alice"], job2["id"])
    assert again["state"] == "done" and again["files"] == []
    assert {s["status"] for s in again["series"]} == {"already imported"}


def test_import_options_name_the_subject_and_study(servers, tmp_path, dicom_dir):
    z = dicom_zip(tmp_path / "one.zip", {"a/1.dcm": dicom_dir / "dcm_qa_ts/In/1.dcm"})
    status, body, _ = post_zip(servers["alice"], "alpha", z, query="&patients_id=../x")
    assert status == 400 and "patients_id" in body["message"]
    status, job, _ = post_zip(servers["alice"], "alpha", z,
                              query="&patients_id=NEW1&studies_id=V1")
    assert status == 202
    state = wait_job(servers["alice"], job["id"])
    assert state["state"] == "done" and state["studies"] == ["NEW1#V1"], state


def test_curl_as_the_docs_show_it(servers, tmp_path, dicom_dir):
    """NORA's documented client: curl -F, and curl's Expect: 100-continue on a big upload."""
    import subprocess

    s = servers["alice"]
    z = dicom_zip(tmp_path / "ts.zip", {"ts/2.dcm": dicom_dir / "dcm_qa_ts/In/2.dcm"})
    out = subprocess.run(["curl", "-sS", "-H", f"Authorization: token {s.token}",
                          "-F", f"thefile=@{z};type=application/zip",
                          f"{s.url}nora/api/import?project=alpha"],
                         capture_output=True, text=True, check=True).stdout
    job = json.loads(out)
    assert job["state"] == "queued" and wait_job(s, job["id"])["state"] == "done"
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (LIMIT + (70 << 20)))  # beyond what the server reads to answer
    out = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", "-H",
                          f"Authorization: token {s.token}", "-H",
                          "Content-Type: application/zip", "--data-binary", f"@{big}",
                          f"{s.url}nora/api/import?project=alpha"],
                         capture_output=True, text=True).stdout
    body, code = out.rsplit("\n", 1)
    assert code == "413" and "over the limit" in json.loads(body)["message"]

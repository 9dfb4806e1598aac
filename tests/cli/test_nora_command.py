"""The `nora` command keeps NORA's flags; errors are one line and a non-zero exit."""

import json
import os

import pytest

from nora_lab.cli import main


@pytest.fixture
def nora(url, tmp_path, monkeypatch, capsys, request):
    """Run `nora ARGS...` as the archive's administrator; returns (rc, out, err).

    On SQLite that is the OS account (single-user archive); on PostgreSQL the login role
    alice, with her own password in ``$NORA_DB`` (as in her ``~/.pgpass``).
    ``user=`` (PostgreSQL only) runs it with another login role's credential.
    """
    from nora_lab.archive import Archive

    monkeypatch.setenv("NORA_ROOT", str(tmp_path / "data"))
    monkeypatch.delenv("NORA_PSID", raising=False)
    pg = request.getfixturevalue("pg_server") if url.startswith("postgresql") else None
    if pg is not None:
        admin = Archive.open(url, root=tmp_path / "data", user="alice")  # the first user
        admin.close()

    def run(*argv, user=None):
        if user is not None and pg is None:
            raise AssertionError("an SQLite archive is single-user: no other user to be")
        if user == "nora_admin":  # the archive's administrator role (creates the users)
            monkeypatch.setenv("NORA_DB", url)
        else:
            monkeypatch.setenv("NORA_DB", pg.login_url(url, user or "alice") if pg else url)
        rc = main(list(argv))
        out, err = capsys.readouterr()
        return rc, out, err

    return run


@pytest.fixture
def demo(nora, tmp_path):
    assert nora("--createproject", "demo")[0] == 0
    from nora_lab.archive import Archive

    p = Archive.open().project("demo")
    for sub in ("P1", "P2"):
        psid = p.add_study(p.add_subject(sub), "S1")
        p.add_bytes(b"x", psid, "t1_trio/s001.nii")
        p.add_json({"mask": {"volume": 3.5 if sub == "P1" else 4.0}}, psid, "META/radio1.json")
    p.tag_study("P1#S1", ["control"])
    return p


def test_select_json_prints_absolute_paths(nora, demo):
    rc, out, _ = nora("-p", "demo", "-s", "t1*/s0__.nii", "--json")
    paths = json.loads(out)
    assert rc == 0 and len(paths) == 2 and all(p.startswith("/") for p in paths)


def test_select_with_filter_bar(nora, demo):
    rc, out, _ = nora("-p", "demo", "-s", "t1*", "-j", "--filter", "files=STAG:control")
    assert [p.split("/")[-4] for p in json.loads(out)] == ["P1"]


def test_addtag_and_rmtag_on_selection(nora, demo):
    assert nora("-p", "demo", "--addtag", "good,checked", "-s", "t1*")[0] == 0
    assert set(demo.files("t1*")["tags"].map(tuple)) == {("checked", "good")}
    assert nora("-p", "demo", "--rmtag", "good", "-s", "t1*")[0] == 0
    assert set(demo.files("t1*")["tags"].map(tuple)) == {("checked",)}


def test_add_registers_a_job_output_and_tags_it(nora, demo):
    out = demo.out_path("P2#S1", "results/seg.nii")
    out.parent.mkdir(parents=True)
    out.write_bytes(b"seg")
    assert nora("-p", "demo", "-a", str(out), "--addtag", "mytagname")[0] == 0
    assert demo.files(tags=["mytagname"])["path"].tolist() == [str(out)]


def test_out_and_pathout_resolve_inside_the_study(nora, demo):
    rc, out, _ = nora("-p", "demo", "--study", "P1#S1", "-o", "res/a.nii")
    assert rc == 0 and out.strip() == str(demo.study_dir("P1#S1") / "res/a.nii")
    rc, _, err = nora("-p", "demo", "--study", "P1#S1", "-o", "../../a.nii")
    assert rc == 1 and "'..'" in err and err.count("\n") == 1


def test_del_and_del_pat(nora, demo):
    path = demo.files("t1*", psid="P1#S1")["path"][0]
    assert nora("-p", "demo", "-d", path)[0] == 0
    assert nora("-p", "demo", "-dp", "P2#S1", "--force")[0] == 0
    assert demo.studies()["psid"].tolist() == ["P1#S1"]
    assert nora("-p", "demo", "-dp", "P1", "--force")[0] == 0
    assert demo.studies().empty


def test_del_pat_without_force_refuses_in_one_line_and_deletes_nothing(nora, demo):
    files = sorted(demo.files()["path"])
    rc, out, err = nora("-p", "demo", "-dp", "P1", "P2#S1")
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert "--force" in err and "nothing was deleted" in err and "P1, P2#S1" in err
    assert demo.studies()["psid"].tolist() == ["P1#S1", "P2#S1"]
    assert sorted(demo.files()["path"]) == files and all(os.path.exists(f) for f in files)


def test_sql_json_and_csv(nora, demo):
    rc, out, _ = nora("-p", "demo", "-q", "SELECT count(*) AS n FROM files")
    assert json.loads(out) == [{"n": 4}]
    rc, out, _ = nora("-q", "SELECT count(*) AS n FROM studies", "--csv")
    assert out.split() == ["n", "2"]


def test_exportmeta_with_key_wildcards(nora, demo):
    rc, out, _ = nora("-p", "demo", "--exportmeta", "*", "META/radio*.json",
                      "--keys", "*.mask.volume")
    lines = out.strip().splitlines()
    assert rc == 0 and lines[0] == "psid,radio1.mask.volume"
    assert lines[1:] == ["P1#S1,3.5", "P2#S1,4.0"]


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_rights_through_the_cli(nora, demo):
    """A lab user's own credential (PostgreSQL): the database decides what bob sees."""
    assert nora("--adduser", "bob")[0] == 1  # alice administers, but creates no roles
    assert nora("--adduser", "bob", user="nora_admin")[0] == 0
    rc, _, err = nora("-p", "demo", "-s", "*", user="bob")
    assert rc == 1 and "no project 'demo' visible to user 'bob'" in err
    rc, out, _ = nora("-q", "SELECT * FROM files", user="bob")
    assert rc == 0 and json.loads(out) == []
    assert nora("-p", "demo", "--grant", "bob", "reader")[0] == 0
    rc, out, _ = nora("-p", "demo", "-s", "*", "-j", user="bob")
    assert rc == 0 and len(json.loads(out)) == 4
    rc, _, err = nora("-p", "demo", "--addtag", "x", "-s", "*", user="bob")
    assert rc == 1 and "editor" in err


def test_fsck_reports_and_repairs(nora, demo):
    orphan = demo.study_dir("P1#S1") / "orphan.nii"
    orphan.write_bytes(b"o")
    os.remove(demo.files("t1*", psid="P2#S1")["path"][0])
    rc, out, _ = nora("-p", "demo", "--fsck")
    assert rc == 1 and "unknown_files" in out and "missing_files" in out
    assert nora("-p", "demo", "--fsck", "--repair")[0] == 0
    rc, out, _ = nora("-p", "demo", "--fsck")
    assert rc == 0 and "agree" in out


def test_usage_errors(nora, demo):
    assert nora("-s", "x")[0] == 2
    assert nora()[0] == 2
    rc, _, err = nora("-p", "demo", "--studies", "--filter", "files=a &")
    assert rc == 1 and "'&'" in err
    with pytest.raises(SystemExit) as exc:
        nora("--version")
    assert exc.value.code == 0


def test_help_reads_like_the_reference(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for flag in ["--project", "--createproject", "--add", "--del_pat", "--select", "--byfilename",
                 "--addtag", "--rmtag", "--out", "--pathout", "--sql", "--exportmeta"]:
        assert flag in text


# --- one-line errors, never a traceback (integrity issue) ------------------------------

def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nora: error: "), err
    return lines[0]


def test_bad_sql_of_an_admin_is_one_line(nora, demo):
    rc, _, err = nora("-q", "SELEC 1")
    assert rc == 1 and "SELEC" in _one_line(err)


def test_sql_stops_at_its_time_limit(nora, demo):
    loop = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r"
    rc, _, err = nora("-q", loop, "--timeout", "1")
    assert rc == 1 and "stopped after 1 s" in _one_line(err)


def test_a_project_name_too_long_is_refused_and_leaves_nothing(nora, tmp_path):
    rc, _, err = nora("--createproject", "x" * 300)
    assert rc == 1 and "at most 100" in _one_line(err)
    assert nora("--projects")[1].strip() == "[]"
    assert "x" * 300 not in os.listdir(tmp_path / "data")


def test_a_project_whose_folder_cannot_be_made_gets_no_row(nora, tmp_path):
    assert nora("--createproject", "first")[0] == 0
    (tmp_path / "data" / "blocked").write_text("a file where the folder would go")
    rc, _, err = nora("--createproject", "blocked")
    assert rc == 1 and "blocked" in _one_line(err)
    assert "blocked" not in nora("--projects")[1]


def test_dest_naming_a_folder_puts_the_file_inside(nora, demo, tmp_path):
    (demo.study_dir("P1#S1") / "res").mkdir()
    src = tmp_path / "out.nii"
    src.write_bytes(b"result")
    for dest in ("res/", "res"):
        rc, out, err = nora("-p", "demo", "-a", str(src), "--study", "P1#S1", "--dest", dest)
        assert rc == 0, err
        assert out.strip().endswith("/P1/S1/res/out.nii")
    rc, _, err = nora("-p", "demo", "-a", str(src), "--study", "P1#S1", "--dest",
                      ".nora-tmp-x.nii")
    assert rc == 1 and "reserved" in _one_line(err)


def test_fsck_repair_exits_non_zero_while_something_is_left(nora, demo, tmp_path):
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("x")
    (demo.study_dir("P1#S1") / "t1_trio" / "link.nii").symlink_to(outside)
    rc, out, _ = nora("-p", "demo", "--fsck", "--repair")
    assert rc == 1 and "not repaired:" in out and "symbolic link" in out

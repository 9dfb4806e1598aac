"""StudyTable's model without a browser: filter bars, errors, paging, stepping, tags, job
states and files – every query against the real archive (SQLite and PostgreSQL).

Messages the page would send are fed to ``_on_frontend_msg``; trait changes the page
would make are made the way the page makes them (setting the synced trait)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nora_lab.widgets.table import COLUMNS, StudyTable

from .conftest import DESK_STUDIES

WIDGETS = Path(__file__).resolve().parents[2] / "nora_lab" / "widgets"


def msg(table, **content):
    table._on_frontend_msg(table, content, [])


def test_first_page_then_count(desk_project):
    table = StudyTable(desk_project, page_size=3)
    assert table.psids == DESK_STUDIES[:3]
    assert table.total == 7 and table.n_pages == 3
    assert table.rows[0] == {"psid": "P001#S1", "subject": "P001", "study": "S1",
                             "date": "2020-01-01", "description": "MR Head",
                             "tags": ["control"], "jobs": {}}
    assert table.editable and table.error == ""


def test_the_page_is_sent_before_the_count(desk_project, monkeypatch):
    seen = {}
    table = StudyTable(desk_project, page_size=3)
    real = desk_project.count_studies

    def counting(filters):
        seen["rows"], seen["total"] = list(table.psids), table.total
        return real(filters)

    monkeypatch.setattr(desk_project, "count_studies", counting)
    table.set_filter("subject", "P002 P005")
    assert seen == {"rows": ["P002#S1", "P005#S1"], "total": None}
    assert table.total == 2


@pytest.mark.parametrize(("column", "text", "expected"), [
    ("subject", "P001 P003", ["P001#S1", "P003#S1"]),
    ("subject", "p00_", DESK_STUDIES),                      # case-insensitive, _ = one character
    ("date", "2021", ["P003#S1", "P004#S1", "P005#S1"]),
    ("description", "ct", ["P002#S1", "P004#S1", "P006#S1"]),
    ("files", "5_flair/*.nii", ["P002#S1", "P005#S1"]),
    ("files", "t1.nii & STAG:control", ["P001#S1"]),
    ("study", "S2", []),
])
def test_filter_bars_narrow_the_table(desk_project, column, text, expected):
    table = StudyTable(desk_project)
    seq = table.seq
    table.filters = {**table.filters, column: text}       # what the page does when typing
    assert table.psids == expected and table.total == len(expected)
    assert table.seq > seq


def test_filter_bars_combine_with_and(desk_project):
    table = StudyTable(desk_project, filters={"description": "MR", "date": "2021 2022"})
    assert table.psids == ["P003#S1", "P005#S1", "P007#S1"]


@pytest.mark.parametrize(("column", "text", "words"), [
    ("subject", '"P00', "unterminated double quote"),
    ("files", "t1 & ", "nothing after an '&'"),
    ("description", "JOB:z", "unknown state"),
    ("files", "../secrets", "leave the study folder"),
])
def test_a_bad_filter_is_shown_inline_and_keeps_the_rows(desk_project, column, text, words):
    table = StudyTable(desk_project, page_size=3)
    table.set_filter(column, text)
    assert words in table.error and table.error_column == column
    assert table.psids == DESK_STUDIES[:3]                 # the last good page stays
    table.set_filter(column, "")
    assert table.error == "" and table.error_column == "" and table.total == 7


def test_unknown_filter_bar_is_refused(desk_project):
    from nora_lab.errors import NoraError

    with pytest.raises(NoraError, match="unknown filter bar"):
        StudyTable(desk_project, filters={"name": "x"})
    assert set(COLUMNS) == {"subject", "study", "date", "description", "files"}


def test_paging_and_filters_restart_at_the_first_page(desk_project):
    table = StudyTable(desk_project, page_size=3)
    table.page = 2                                         # the page's ›› button
    assert table.psids == ["P007#S1"]
    table.page = 1
    assert table.psids == ["P004#S1", "P005#S1", "P006#S1"]
    table.set_filter("description", "MR")
    assert table.page == 0 and table.psids == ["P001#S1", "P003#S1", "P005#S1"]


def test_step_crosses_pages_and_stops_at_the_ends(desk_project):
    table = StudyTable(desk_project, page_size=3)
    selected = []
    table.on_select(selected.append)
    walked = [table.step(+1) for _ in range(7)]
    assert walked == DESK_STUDIES and table.page == 2
    assert table.step(+1) is None and table.selected == "P007#S1" and table.page == 2
    msg(table, type="step", step=-1)                       # arrow up in the table
    assert table.selected == "P006#S1" and table.page == 1
    assert table.step(-3) == "P003#S1" and table.page == 0
    assert table.step(-5) is None and table.page == 0 and table.selected == "P003#S1"
    assert selected == DESK_STUDIES + ["P006#S1", "P003#S1"]


def test_selecting_lists_the_files_and_opening_reports_the_path(desk_project):
    table = StudyTable(desk_project)
    opened = []
    table.on_open(lambda *a: opened.append(a))
    table.selected = "P002#S1"                             # a click on the row
    assert [f["relpath"] for f in table.files] == ["3_t1/t1.nii.gz", "5_flair/flair.nii.gz"]
    assert table.files[0]["filetype"] == "nifti" and table.files[0]["size"] > 0
    msg(table, type="open", psid="P002#S1", relpath="5_flair/flair.nii.gz", shift=True)
    path = str(desk_project.study_dir("P002#S1") / "5_flair/flair.nii.gz")
    assert opened == [("P002#S1", "5_flair/flair.nii.gz", path, True)]
    table.selected = ""
    assert table.files == []


def test_a_long_file_list_is_cut_with_a_note(desk_project, monkeypatch):
    table = StudyTable(desk_project)
    monkeypatch.setattr(table, "max_files", 1)
    table.selected = "P002#S1"
    assert [f["relpath"] for f in table.files] == ["3_t1/t1.nii.gz"]
    assert "showing the first 1 files" in table.message
    table.selected = "P001#S1"
    assert table.message == ""


def test_tags_are_added_and_removed_in_the_archive(desk_project):
    table = StudyTable(desk_project)
    msg(table, type="tag", op="add", psid="P003#S1", tag="  reviewed ")
    assert desk_project.study("P003#S1")["tags"] == ["reviewed"]
    assert table.rows[2]["tags"] == ["reviewed"]
    table.add_tag("P003#S1", "qc-fail")
    assert table.rows[2]["tags"] == ["qc-fail", "reviewed"]
    msg(table, type="tag", op="remove", psid="P003#S1", tag="reviewed")
    assert desk_project.study("P003#S1")["tags"] == ["qc-fail"] == table.rows[2]["tags"]
    table.set_filter("files", "STAG:qc")
    assert table.psids == ["P003#S1"]


def test_a_reader_sees_tags_but_cannot_edit_them(desk_project, url, tmp_path):
    from nora_lab.archive import Archive

    desk_project.archive.add_user("bob")
    desk_project.archive.grant("desk", "bob", "reader")
    bob = Archive.open(url, root=tmp_path / "data", user="bob").project("desk")
    table = StudyTable(bob)
    assert not table.editable and table.rows[0]["tags"] == ["control"]
    msg(table, type="tag", op="add", psid="P001#S1", tag="x")
    assert "editor" in table.message                      # PermissionDenied, shown
    assert desk_project.study("P001#S1")["tags"] == ["control"]


def test_job_states_per_study(desk_project):
    from nora_lab.archive import job_states as jobs

    ids = jobs.create(desk_project, "run1", "segment", "study", ["P001#S1", "P002#S1", "P003#S1"])
    jobs.start(desk_project, ids[0], worker="w")
    jobs.finish(desk_project, ids[0], "e", error="boom")
    jobs.start(desk_project, ids[1], worker="w")
    jobs.create(desk_project, "run2", "register", "study", ["P001#S1"])
    table = StudyTable(desk_project)
    by = {r["psid"]: r["jobs"] for r in table.rows}
    assert by["P001#S1"] == {"segment": "e", "register": "q"}
    assert by["P002#S1"] == {"segment": "r"} and by["P003#S1"] == {"segment": "q"}
    assert by["P004#S1"] == {}
    table.set_filter("description", "JOB:e")               # the archive's own JOB: filter
    assert table.psids == ["P001#S1"]


def test_job_states_hook(desk_project):
    calls = []

    def states(project, psids):
        calls.append(list(psids))
        return {psids[0]: {"mine": "d"}}

    table = StudyTable(desk_project, page_size=2, job_states=states)
    assert table.rows[0]["jobs"] == {"mine": "d"} and calls == [["P001#S1", "P002#S1"]]
    assert StudyTable(desk_project, job_states=False).rows[0]["jobs"] == {}


def test_widget_modules_use_only_the_project_api():
    """No widget talks SQL or reaches into the archive's internals (docs/archive-api.md)."""
    for path in WIDGETS.glob("*.py"):
        text = path.read_text()
        for bad in ("sqlalchemy", "archive import _", "archive._", "_schema", "_db."):
            assert bad not in text, f"{path.name} uses {bad!r}"
    code = ("import sys, nora_lab.widgets.desk, nora_lab.widgets.table; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'psycopg')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_front_end_module_reports_what_tests_wait_on():
    js = (WIDGETS / "static" / "table.js").read_text()
    assert "export default { render }" in js
    for marker in ("d.seq", "d.rows", "d.total", "d.selected", "d.error", "d.page"):
        assert marker in js
    assert "import " not in js.split("export default")[0]  # no dependencies, no build step

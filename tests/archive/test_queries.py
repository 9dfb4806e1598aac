"""Filter bars and file patterns against the database, on SQLite and PostgreSQL."""

import pytest

from nora_lab.errors import FilterSyntaxError, UnsafePathError


@pytest.fixture
def proj(archive):
    """Four studies: two T1 naming conventions, tags, descriptions and a failed job."""
    p = archive.create_project("demo")
    layout = {
        ("Anna", "S1", "2020-01-02", "MR Head"): ["t1_trio_mpr/s001.nii", "dti/s002.nii"],
        ("Bert", "S1", "2021-05-06", "MR Knee"): ["MPR_t1_sag/s004.nii.gz"],
        ("Carl", "S2", "2019-03-04", "CT Head"): ["ct/ct.nii.gz", "flair_tra/s003.nii"],
        ("Dora_x", "S9", "2022-07-08", "MR Head"): ["t1_trio/x01.nii"],
    }
    for (sub, st, date, desc), files in layout.items():
        sid = p.add_subject(sub)
        psid = p.add_study(sid, st, date=date, description=desc)
        for rel in files:
            p.add_bytes(rel.encode(), psid, rel, tags=["raw"] if "ct" in rel else [])
    p.tag_study("Anna#S1", ["control"])
    p.tag_study("Carl#S2", ["patient"])
    p.tag_subject("Bert", ["knee"])
    return p


def psids(df):
    return sorted(df["psid"])


def test_space_separated_terms_are_alternatives(proj):
    assert psids(proj.studies({"subject": "A B"})) == ["Anna#S1", "Bert#S1"]


def test_implicit_trailing_wildcard_and_case_insensitivity(proj):
    assert psids(proj.studies({"subject": "an"})) == ["Anna#S1"]
    assert psids(proj.studies({"description": '"mr head"'})) == ["Anna#S1", "Dora_x#S9"]
    assert psids(proj.studies({"description": "mr head"})) == ["Anna#S1", "Bert#S1", "Dora_x#S9"]


def test_underscore_is_exactly_one_character(proj):
    assert psids(proj.studies({"subject": "D_ra"})) == ["Dora_x#S9"]
    assert psids(proj.studies({"subject": "D_a"})) == []


def test_file_search_bar_examples_from_the_reference(proj):
    assert psids(proj.studies({"files": "t1_trio*/s0*.nii"})) == ["Anna#S1"]
    assert psids(proj.studies({"files": "t1_trio*/s0*.nii MPR_t1*/s*.nii"})) == ["Anna#S1",
                                                                                 "Bert#S1"]
    assert psids(proj.studies({"files": "t1_tri*/s0*.nii & STAG:control"})) == ["Anna#S1"]
    assert psids(proj.studies({"files": "t1_tri* & STAG:patient"})) == []


def test_leading_wildcards(proj):
    assert psids(proj.studies({"files": "*/s00_.nii"})) == ["Anna#S1", "Bert#S1", "Carl#S2"]
    assert psids(proj.studies({"files": "*flair*"})) == ["Carl#S2"]
    assert psids(proj.studies({"files": "*.nii.gz"})) == ["Bert#S1", "Carl#S2"]


def test_special_attributes(proj):
    assert psids(proj.studies({"subject": "STAG:cont"})) == ["Anna#S1"]
    assert psids(proj.studies({"subject": "PTAG:knee"})) == ["Bert#S1"]
    assert psids(proj.studies({"subject": "FTAG:raw"})) == ["Carl#S2"]
    assert psids(proj.studies({"subject": "SDESC:CT"})) == ["Carl#S2"]


def test_job_states(proj, archive):
    import sqlalchemy as sa

    from nora_lab.archive import _db
    from nora_lab.archive import _schema as t

    with _db.write(archive.engine) as conn:
        pk = proj._study_row(conn, "Carl#S2").id
        conn.execute(sa.insert(t.jobs).values(project_id=proj.pk, study=pk, name="x", state="e"))
    assert psids(proj.studies({"subject": "JOB:e"})) == ["Carl#S2"]
    assert psids(proj.studies({"subject": "JOB:qr"})) == []
    # a subject-level job (no study) marks every study of its subject
    with _db.write(archive.engine) as conn:
        spk = proj._study_row(conn, "Anna#S1").subject
        conn.execute(sa.insert(t.jobs).values(project_id=proj.pk, subject=spk, name="y", state="r"))
    assert psids(proj.studies({"subject": "JOB:r"})) == ["Anna#S1"]
    assert list(proj.subjects({"subject": "JOB:r"})["subject"]) == ["Anna"]
    assert list(proj.subjects({"subject": "JOB:e"})["subject"]) == ["Carl"]


def test_columns_combine_with_and(proj):
    assert psids(proj.studies({"description": "MR", "date": "2020 2022"})) == ["Anna#S1",
                                                                               "Dora_x#S9"]


def test_sql_looking_filters_match_literally(proj):
    for evil in ["'; DROP TABLE files; --", "x' OR '1'='1", "%", "\\"]:
        assert proj.studies({"subject": evil}).empty
    for evil in ["'; DROP TABLE files; --", "x' OR '1'='1", "%"]:
        assert proj.studies({"files": evil}).empty
    with pytest.raises(UnsafePathError, match="backslash"):
        proj.studies({"files": "a\\b"})
    assert proj.count_studies() == 4


def test_malformed_filter_is_a_clear_error(proj):
    with pytest.raises(FilterSyntaxError, match="'&'"):
        proj.studies({"files": "t1* &"})
    with pytest.raises(FilterSyntaxError, match="no filter bar"):
        proj.studies({"colour": "red"})


def test_paging_and_count(proj):
    assert proj.count_studies({"description": "MR"}) == 3
    page = proj.studies(limit=2, offset=1)
    assert psids(page) == ["Bert#S1", "Carl#S2"]


def test_subject_level(proj):
    assert list(proj.subjects({"files": "ct/"})["subject"]) == ["Carl"]
    assert list(proj.subjects({"subject": "STAG:control"})["subject"]) == ["Anna"]


def test_files_by_pattern_and_resolve(proj):
    df = proj.files("s0*.nii")
    assert sorted(df["relpath"]) == ["MPR_t1_sag/s004.nii.gz", "dti/s002.nii",
                                     "flair_tra/s003.nii", "t1_trio_mpr/s001.nii"]
    paths = proj.resolve("Anna#S1", "t1*/s0__.nii")
    assert [p.name for p in paths] == ["s001.nii"] and paths[0].is_absolute()
    assert proj.resolve("Bert#S1", "t1*/s0__.nii") == []


@pytest.mark.parametrize("rare", [0, 10**9], ids=["probe-per-study", "driven-by-index"])
def test_both_query_strategies_give_the_same_studies(proj, monkeypatch, rare):
    """Common conditions are probed per study, rare ones drive the query: same answer."""
    from nora_lab.archive._query import Compiler

    monkeypatch.setattr(Compiler, "RARE", rare)
    cases = {
        "t1_tri*/s0*.nii & STAG:control": ["Anna#S1"],
        "*/s00_.nii": ["Anna#S1", "Bert#S1", "Carl#S2"],
        "FTAG:raw": ["Carl#S2"],
        "PTAG:knee": ["Bert#S1"],
        "*flair* MPR*": ["Bert#S1", "Carl#S2"],
    }
    for text, expected in cases.items():
        assert psids(proj.studies({"files": text})) == expected, text
    assert list(proj.subjects({"files": "STAG:control"})["subject"]) == ["Anna"]
    files = proj.files("s0*.nii", limit=3)  # ordered by study, then path, either way
    assert list(zip(files["psid"], files["relpath"], strict=True)) == [
            ("Anna#S1", "dti/s002.nii"), ("Anna#S1", "t1_trio_mpr/s001.nii"),
            ("Bert#S1", "MPR_t1_sag/s004.nii.gz")]


def test_a_pattern_is_estimated_rare_or_common_before_it_is_planned(proj):
    """A leading wildcard with a literal run is estimated (SQLite: its trigram table counts
    up to the cap; PostgreSQL: the planner's estimate), without one it counts as common."""
    from nora_lab.archive.patterns import FilePattern

    with proj.archive.engine.connect() as conn:
        assert FilePattern("*flair*").estimate(conn, proj.pk, 1000) < 1000
        assert FilePattern("*").estimate(conn, proj.pk, 1000) == 1000
        assert FilePattern("t1_trio*").estimate(conn, proj.pk, 1) == 1

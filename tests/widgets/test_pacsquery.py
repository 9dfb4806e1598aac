"""PacsQuery's model against a real Orthanc (the four 2-instance Siemens EPI series of
dcm_qa_nih, read in place): the search form with NORA's conventions, results per patient,
study and series with the "in studies" counts, the patient highlight, pulling with
progress, and pulled studies shown pseudonymized unless the user may see identities."""

from __future__ import annotations

import json
import logging

import pytest

from nora_lab.archive.pacs.nodes import PacsConfig
from nora_lab.errors import NoraError
from nora_lab.testing import testdata
from nora_lab.testing.pacs import OrthancServer, ServiceError, free_port
from nora_lab.widgets.pacsquery import FORM_KEYS, PacsQuery

pytestmark = pytest.mark.pacs

SI_EPI = testdata.path("dcm_qa_nih") / "In" / "20180918Si"


@pytest.fixture(autouse=True)
def _quiet_pynetdicom():
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)


@pytest.fixture(scope="module")
def node_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory, node_port):
    """An Orthanc holding the EPI series (8 instances), knowing our node as NORA."""
    server = OrthancServer(tmp_path_factory.mktemp("orthanc"),
                           modalities={"NORA": ("NORA", "127.0.0.1", node_port)})
    try:
        server.start()
        server.load(SI_EPI)
    except (ServiceError, OSError) as exc:
        server.close()
        pytest.fail(f"Orthanc could not start, so the PACS widget tests cannot run: {exc}",
                    pytrace=False)
    yield server
    server.close()


@pytest.fixture
def cfg(tmp_path, node_port, orthanc) -> PacsConfig:
    c = PacsConfig(tmp_path / "pacs.yaml", port=node_port, host="127.0.0.1",
                   incoming=str(tmp_path / "incoming"), quiet_period=0.3, autoexec=False)
    c.add("ORTHANC", aet=orthanc.aet, host="127.0.0.1", port=orthanc.dicom_port, timeout=30)
    return c


def page(widget, action, **content):
    widget._on_page(widget, {"action": action, **content}, [])


def test_search_lists_patients_studies_series_and_sequences(archive, cfg):
    q = PacsQuery(archive.create_project("p"), config=cfg)
    assert q.nodes == ["ORTHANC"] and q.node == "ORTHANC"
    assert set(q.form) == set(FORM_KEYS)
    page(q, "search", form={"patient_name": "test^reg*", "study_date": "20180101-20181231",
                            "modality": "MR", "birth_date": "", "study_description": "*"})
    assert q.error == "", q.error
    assert [p["PatientName"] for p in q.patients] == ["Test^Regression"]
    assert q.patients[0]["studies"] == 1 and q.patients[0]["series"] == 4
    (study,) = q.studies
    assert study["series"] == 4 and study["instances"] == 8 and study["in_project"] is False
    assert study["key"] == q.patients[0]["key"]
    assert sorted(s["SeriesDescription"] for s in q.series) == [
        "EPI PE=AP", "EPI PE=LR", "EPI PE=PA", "EPI PE=RL"]
    assert {s["in_studies"] for s in q.sequences} == {1}
    assert "1 patient(s), 1 stud(ies), 4 series" in q.status
    json.dumps([q.patients, q.studies, q.series, q.sequences])  # plain JSON for the page

    page(q, "patient", key=study["key"])
    assert q.highlight_patient == study["key"]
    assert q.examinations_of(study["key"]) == [study["StudyInstanceUID"]]
    page(q, "patient", key=study["key"])  # a second click clears the highlight
    assert q.highlight_patient == ""

    q.search(study_date="2019", patient_name="")  # a year: nothing here
    assert q.patients == [] and q.studies == []
    page(q, "search", form={"study_date": "last tuesday"})
    assert "date 'last tuesday'" in q.error
    with pytest.raises(NoraError, match="unknown field"):
        q.search(colour="red")


def test_pull_selected_with_progress_into_a_real_project(archive, cfg):
    proj = archive.create_project("p")
    q = PacsQuery(proj, config=cfg)
    with pytest.raises(NoraError, match="search first"):
        q.pull_selected()
    q.search(patient_id="DEV")
    with pytest.raises(NoraError, match="nothing selected"):
        q.pull_selected()
    q.selected_series = [s["SeriesInstanceUID"] for s in q.series
                         if s["SeriesDescription"] in ("EPI PE=AP", "EPI PE=PA")]
    seen = []
    q.observe(lambda c: seen.append(dict(c["new"])), names=["progress"])
    result = q.pull_selected()
    assert list(result["status"]) == ["imported"] * 2
    assert seen[-1] == {"done": 1, "total": 1, "series_done": 2, "series_total": 2,
                        "current": "", "running": False, "images": 4, "images_total": 4}
    assert any(s["running"] for s in seen)
    (pulled,) = q.pulled
    assert pulled["psid"].startswith("DEV#") and pulled["status"] == "imported"
    assert list(proj.studies()["psid"]) == [pulled["psid"]]
    assert "name" not in pulled  # a real project: the PSID already is the real ID
    (study,) = q.studies
    assert study["in_archive"] == 4 and not study["in_project"]  # half of it
    q.selected_studies = [study["StudyInstanceUID"]]
    again = q.pull_selected()
    assert sorted(again["status"]) == ["already imported"] * 2 + ["imported"] * 2
    assert q.studies[0]["in_project"] is True and len(proj.studies()) == 1


def test_pseudonymized_project_hides_names_unless_allowed(archive, cfg, url, tmp_path):
    from nora_lab.archive import Archive

    proj = archive.create_project("pp", naming="pseudonym")
    archive.add_user("bob")
    archive.grant("pp", "bob", "editor")  # no identity right
    q = PacsQuery(proj, config=cfg)
    assert q.pseudonymized and q.can_see_identity and not q.show_identity
    q.search(patient_id="DEV", study_description="")
    assert q.patients[0]["PatientName"] == "•••" and q.patients[0]["PatientID"] == "•••"
    q.selected_studies = [q.studies[0]["StudyInstanceUID"]]
    q.pull_selected()
    (pulled,) = q.pulled
    assert not pulled["psid"].startswith("DEV") and "name" not in pulled
    q.show_identity = True  # alice is the admin: allowed
    assert q.pulled[0]["name"] == "Test^Regression" and q.pulled[0]["real_id"] == "DEV"
    assert q.patients[0]["PatientName"] == "Test^Regression"

    bob = Archive.open(url, root=tmp_path / "data", user="bob")
    try:
        qb = PacsQuery(bob.project("pp"), config=cfg)
        assert not qb.can_see_identity
        qb.show_identity = True  # refused, with the reason
        assert qb.show_identity is False and "may not see real identities" in qb.error
        qb.search(patient_id="DEV")
        assert {p["PatientName"] for p in qb.patients} == {"•••"}
        assert qb.studies[0]["in_project"] is True
    finally:
        bob.close()


def test_an_unreachable_node_is_an_error_on_the_page(archive, tmp_path):
    cfg = PacsConfig(tmp_path / "pacs.yaml", port=free_port(), host="127.0.0.1")
    cfg.add("GONE", aet="GONE", host="127.0.0.1", port=free_port(), timeout=2)
    q = PacsQuery(archive.create_project("p"), config=cfg)
    page(q, "search", form={"patient_name": "x*"})
    assert "GONE" in q.error and q.patients == []
    empty = PacsQuery(archive.project("p"), config=PacsConfig(tmp_path / "none.yaml"))
    page(empty, "search", form={})
    assert "no PACS node configured" in empty.error

"""C-ECHO and C-FIND against a real Orthanc: every level, both roots, NORA's conventions."""

from __future__ import annotations

import pytest

from nora_lab.archive.pacs import (
    echo,
    find,
    find_instances,
    find_patients,
    find_series,
    find_studies,
    sequences,
)
from nora_lab.archive.pacs.nodes import PacsNode
from nora_lab.errors import ConfigError, PacsError

pytestmark = pytest.mark.pacs


def test_echo(cfg):
    assert 0 < echo("ORTHANC", config=cfg) < 5


def test_unreachable_and_refusing_nodes_say_what_to_check(cfg, orthanc):
    from nora_lab.testing.pacs import free_port

    nowhere = PacsNode("nowhere", aet="X", host="127.0.0.1", port=free_port(), timeout=3)
    with pytest.raises(PacsError, match=r"cannot reach PACS node 'nowhere' \(X@127.0.0.1"):
        echo(nowhere, config=cfg)
    stranger = orthanc.node("orthanc", calling_aet="STRANGER")
    with pytest.raises(PacsError, match="rejected the association: our calling AE title is "
                                        "not known.*'STRANGER'"):
        find_studies(stranger, config=cfg)


def test_patients(cfg):
    pts = find_patients("ORTHANC", config=cfg)
    assert set(pts["PatientID"]) == {"dicom", "DEV", "crlab"}
    assert list(pts.columns[:2]) == ["PatientName", "PatientID"]
    one = find_patients("ORTHANC", config=cfg, patient_name="TEST^reg*")  # case-insensitive
    assert list(one["PatientID"]) == ["DEV"]
    assert one["NumberOfPatientRelatedStudies"].tolist() == [1]


@pytest.mark.parametrize("root", ["study", "patient"])
def test_studies_by_name_date_and_modality(cfg, root):
    every = find("ORTHANC", "study", root=root, config=cfg)
    assert len(every) == 3 and every["StudyInstanceUID"].is_unique
    got = find("ORTHANC", "study", root=root, config=cfg, study_date="2018")
    assert list(got["PatientID"]) == ["DEV"]
    assert got["NumberOfStudyRelatedSeries"].tolist() == [4]
    assert got["NumberOfStudyRelatedInstances"].tolist() == [8]
    assert len(find("ORTHANC", "study", root=root, config=cfg,
                    study_date="20140101-20191231")) == 2
    assert find("ORTHANC", "study", root=root, config=cfg, modality="CT").empty
    assert len(find("ORTHANC", "study", root=root, config=cfg, modality="MR")) == 3
    assert list(find("ORTHANC", "study", root=root, config=cfg,
                     patient_name="stc*")["PatientID"]) == ["crlab"]


def test_series_carry_their_study_and_patient(cfg):
    series = find_series("ORTHANC", config=cfg, series_description="EPI PE=*")
    assert sorted(series["SeriesDescription"]) == ["EPI PE=AP", "EPI PE=LR", "EPI PE=PA",
                                                   "EPI PE=RL"]
    assert set(series["PatientName"]) == {"Test^Regression"}
    assert set(series["StudyDate"]) == {"20180918"}
    assert series["NumberOfSeriesRelatedInstances"].tolist() == [2, 2, 2, 2]
    t1 = find_series("ORTHANC", config=cfg, patient_id="dicom", modality="MR")
    assert t1["NumberOfSeriesRelatedInstances"].tolist() == [130]
    patient_root = find("ORTHANC", "series", root="patient", config=cfg,
                        series_description="*T1*")
    assert list(patient_root["SeriesInstanceUID"]) == list(t1["SeriesInstanceUID"])


def test_instances_and_the_in_studies_view(cfg):
    every = find_series("ORTHANC", config=cfg)
    seq = sequences(every)
    assert seq["in_studies"].max() == 1 and seq["instances"].sum() == 130 + 8 + 9
    ts = seq[seq["SeriesDescription"] == "ax_asc_35sl"].iloc[0]
    assert (ts.series, ts.instances) == (1, 9)  # nine transfer syntaxes, one series UID
    pe = every[every["SeriesDescription"] == "EPI PE=AP"].iloc[0]
    inst = find_instances("ORTHANC", config=cfg, study_uid=pe.StudyInstanceUID,
                          series_uid=pe.SeriesInstanceUID)
    assert len(inst) == 2 and inst["SOPInstanceUID"].is_unique
    assert set(inst["SOPClassUID"]) == {"1.2.840.10008.5.1.4.1.1.4"}
    assert sorted(inst["InstanceNumber"]) == [1, 2]


def test_bad_queries_are_refused_before_sending(cfg):
    with pytest.raises(ConfigError, match="SeriesDescription select.* below the study level"):
        find_studies("ORTHANC", config=cfg, series_description="*t1*")
    with pytest.raises(ConfigError, match="level 'exam'"):
        find("ORTHANC", "exam", config=cfg)

"""DICOMweb as a second transport: QIDO-RS, WADO-RS and STOW-RS against the real Orthanc with
its DICOMweb plugin, through the same functions (and answers) as DIMSE."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from nora_lab.archive.pacs import (
    echo,
    find_instances,
    find_patients,
    find_series,
    find_studies,
    pull,
    push,
)
from nora_lab.archive.pacs.nodes import PacsConfig, PacsNode
from nora_lab.errors import ConfigError, PacsError

pytestmark = pytest.mark.pacs


@pytest.fixture
def web(cfg, orthanc) -> PacsConfig:
    """``cfg`` with the session's Orthanc also as DICOMweb node ``WEB``."""
    cfg.add("WEB", transport="dicomweb", url=orthanc.dicomweb_url + "/", timeout=30)
    return cfg


def test_a_dicomweb_node_is_configured_by_url_and_saved(web, tmp_path):
    node = web.node("WEB")
    assert (node.transport, node.url.endswith("/dicom-web")) == ("dicomweb", True)
    web.save()
    again = PacsConfig(tmp_path / "pacs.yaml")
    assert again.node("WEB").url == node.url
    assert "transport" not in again.to_dict()["nodes"]["ORTHANC"]
    with pytest.raises(ConfigError, match="transport 'dicomweb' needs url"):
        web.add("BAD", transport="dicomweb")
    with pytest.raises(ConfigError, match="transport 'webdav'"):
        web.add("BAD", aet="X", transport="webdav")


def test_qido_answers_as_c_find_does(web):
    assert 0 < echo("WEB", config=web) < 5
    name = find_studies("ORTHANC", config=web, patient_id="DEV").PatientName[0]
    for kw in ({}, {"patient_id": "DEV"}, {"study_date": "2018"},
               {"patient_name": name[:2] + "*"}):  # (QIDO's PN matching: case-sensitive)
        dimse = find_studies("ORTHANC", config=web, **kw)
        qido = find_studies("WEB", config=web, **kw)
        assert sorted(qido["StudyInstanceUID"]) == sorted(dimse["StudyInstanceUID"]), kw
    dimse = find_series("ORTHANC", config=web, modality="MR")
    qido = find_series("WEB", config=web, modality="MR")
    cols = ["SeriesInstanceUID", "SeriesNumber", "NumberOfSeriesRelatedInstances"]
    assert (qido.sort_values("SeriesInstanceUID")[cols].reset_index(drop=True)
            .equals(dimse.sort_values("SeriesInstanceUID")[cols].reset_index(drop=True)))
    assert set(find_patients("WEB", config=web)["PatientID"]) == \
        set(find_patients("ORTHANC", config=web)["PatientID"])
    one = qido.iloc[0]
    inst = find_instances("WEB", config=web, study_uid=one.StudyInstanceUID,
                          series_uid=one.SeriesInstanceUID)
    assert len(inst) == one.NumberOfSeriesRelatedInstances


def test_wado_pulls_a_series_into_the_project_once(web, project):
    series = find_series("WEB", config=web, series_description="*T1*")
    series = series[series.NumberOfSeriesRelatedInstances == 130].reset_index(drop=True)
    assert len(series) == 1  # the GE 3D T1
    plan = pull("WEB", project, series=series, dry_run=True, config=web)
    assert list(plan.action) == ["pull series (WADO-RS)"]
    seen = []
    result = pull("WEB", project, series=series, config=web,
                  progress=lambda n, total: seen.append((n, total)))
    row = result.iloc[0]
    assert (row.status, row.received) == ("imported", 130), result.to_dict("records")
    assert seen[-1] == (130, 130)
    assert len(project.files(pattern="*.nii.gz", psid=row.psid)) == 1
    again = pull("WEB", project, series=list(series.SeriesInstanceUID), config=web)
    assert list(again.status) == ["already imported"]


def _secondary_capture() -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = sop = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, sop
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID, ds.PatientName, ds.Modality = "STOW", "Stow^Test", "OT"
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelData = np.arange(16, dtype=np.uint8).tobytes()
    return ds


def test_stow_stores_datasets_and_files(web, orthanc, tmp_path):
    ds = _secondary_capture()
    other = _secondary_capture()
    other.save_as(tmp_path / "other.dcm", enforce_file_format=True)
    (tmp_path / "notes.txt").write_text("not DICOM")
    before = orthanc.count_instances()
    out = push("WEB", [ds, tmp_path], progress=False, config=web)
    assert sorted(out.status) == ["not sent", "sent", "sent"], out.to_dict("records")
    assert orthanc.count_instances() == before + 2
    found = find_studies("WEB", config=web, patient_id="STOW")
    assert set(found.StudyInstanceUID) == {ds.StudyInstanceUID, other.StudyInstanceUID}
    for uid in found.StudyInstanceUID:
        orthanc.rest("DELETE", "/studies/" + orthanc.rest(
            "POST", "/tools/lookup", uid.encode())[0]["ID"])


def test_an_unreachable_service_is_a_pacs_error_naming_it(web):
    from nora_lab.testing.pacs import free_port

    gone = PacsNode("gone", transport="dicomweb", url=f"http://127.0.0.1:{free_port()}/dw",
                    timeout=3)
    with pytest.raises(PacsError, match=r"DICOMweb search \(echo\) at 'gone'.*is the service"):
        echo(gone, config=web)
    missing = PacsNode("missing", transport="dicomweb", url=web.node("WEB").url + "/nope")
    with pytest.raises(PacsError, match="HTTP 404"):
        find_studies(missing, config=web)


def test_the_pacs_query_widget_searches_and_pulls_by_dicomweb(web, project):
    from nora_lab.widgets.pacsquery import PacsQuery

    q = PacsQuery(project, "WEB", config=web)
    series = q.search(patient_id="DEV")
    assert q.status.startswith("WEB: 1 patient(s)") and len(series) == 4
    q.selected_series = [series.SeriesInstanceUID[0]]
    out = q.pull_selected()
    assert list(out.status) == ["imported"], out.to_dict("records")
    assert q.progress["running"] is False and q.status.startswith("pulled 1 stud(ies)")

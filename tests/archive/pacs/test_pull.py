"""Pulling from a real Orthanc into a project (C-MOVE to our node, C-GET), resuming,
pushing results back — on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
import tarfile
import threading

import nibabel as nib
import numpy as np
import pydicom
import pytest

from nora_lab.archive.dicom import import_dicom
from nora_lab.archive.pacs import DicomNode, find_series, pull, push, push_study
from nora_lab.archive.pacs._plan import archived
from nora_lab.errors import PacsError

from .conftest import SI_EPI, TS

pytestmark = pytest.mark.pacs


def _epi(cfg):
    return find_series("ORTHANC", config=cfg, series_description="EPI PE=*")


def test_dry_run_then_move_then_nothing_more(project, cfg):
    series = _epi(cfg)
    plan = pull("ORTHANC", project, series=series, dry_run=True, config=cfg)
    assert list(plan["action"]) == ["pull series"] * 4
    assert plan["to_pull"].tolist() == [2, 2, 2, 2] and plan["in_archive"].sum() == 0
    assert project.studies().empty  # a dry run changes nothing

    seen = []
    result = pull("ORTHANC", project, series=series, config=cfg,
                  progress=lambda done, total: seen.append((done, total)))
    assert list(result["status"]) == ["imported"] * 4, result[["status", "reason"]]
    assert seen == [(n, 8) for n in range(1, 9)]  # one call per instance received
    assert result["received"].tolist() == [2, 2, 2, 2]
    (psid,) = set(result["psid"])
    assert psid.startswith("DEV#")
    for folder in result["series_folder"]:
        (nii,) = project.resolve(psid, f"{folder}/*.nii.gz")
        assert nib.load(nii).shape[:2] == (72, 72)
    assert not list((cfg.local.incoming_dir() / "p").glob("*/*/*.dcm"))  # imported: removed

    again = pull("ORTHANC", project, series=series, config=cfg, progress=False)
    assert list(again["status"]) == ["already imported"] * 4
    assert again["received"].tolist() == [0, 0, 0, 0]
    assert len(project.studies()) == 1


def test_get_keeps_compressed_transfer_syntaxes(project, cfg):
    ts = find_series("ORTHANC", config=cfg, series_description="ax_asc_35sl")
    result = pull("ORTHANC", project, series=ts, method="get", keep_dicom=True, config=cfg,
                  progress=False)
    row = result.iloc[0]
    assert row.status == "imported" and row.received == 9, row.reason
    assert len(row.series_folder.split(",")) == 9  # nine series numbers: nine folders
    received = set()
    for folder in row.series_folder.split(","):
        (nii,) = project.resolve(row.psid, f"{folder}/*.nii.gz")
        assert np.asarray(nib.load(nii).dataobj).any()
        with tarfile.open(project.study_dir(row.psid) / folder / "dicom.tar.gz") as tf:
            for member in tf.getmembers():
                ds = pydicom.dcmread(tf.extractfile(member), stop_before_pixels=True)
                received.add(str(ds.file_meta.TransferSyntaxUID))
    sent = {str(pydicom.filereader.read_file_meta_info(p).TransferSyntaxUID)
            for p in TS.iterdir()}
    assert received == sent and len(sent) == 7  # RLE, JPEG, JPEG-LS, J2K… as stored


def test_a_pull_skips_what_the_project_already_has(project, cfg):
    first = sorted((SI_EPI / "mr_0003").glob("*.dcm"))[0]
    assert import_dicom(project, [first], progress=False).count("converted") == 1
    series = find_series("ORTHANC", config=cfg, series_description="EPI PE=AP")
    plan = pull("ORTHANC", project, series=series, dry_run=True, config=cfg)
    assert plan.iloc[0].action == "pull 1 missing instance(s)"
    assert (plan.iloc[0].in_archive, plan.iloc[0].to_pull) == (1, 1)
    result = pull("ORTHANC", project, series=series, config=cfg, progress=False)
    assert (result.iloc[0].status, result.iloc[0].received) == ("imported", 1)
    sops = archived(project, [series.iloc[0].SeriesInstanceUID])
    assert len(sops[series.iloc[0].SeriesInstanceUID]) == 2


def test_no_receiver_no_move(project, cfg, node_port):
    with socket.socket() as s:  # someone else holds our node's port
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", node_port))
        s.listen()
        with pytest.raises(PacsError, match="needs our node 'NORA' to receive.*method='get'"):
            pull("ORTHANC", project, series=_epi(cfg).iloc[:1], config=cfg, progress=False)
    assert project.studies().empty


def test_orthanc_stopped_mid_move_then_resumed(archive, project, cfg, small_orthanc):
    cfg.add("SMALL", aet=small_orthanc.aet, host="127.0.0.1", port=small_orthanc.dicom_port,
            timeout=10)
    t1 = find_series("SMALL", config=cfg)
    assert t1["NumberOfSeriesRelatedInstances"].tolist() == [130]
    node = DicomNode(archive, config=cfg, project="p", auto_import=False).start()
    try:
        seen = []

        def stop_pacs_after_40(where):
            seen.append(where)
            if len(seen) == 40:
                threading.Thread(target=small_orthanc.kill).start()

        node.on_receive.append(stop_pacs_after_40)
        cut = pull("SMALL", project, series=t1, receiver=node, config=cfg, progress=False)
        node.on_receive.clear()
        row = cut.iloc[0]
        assert row.status == "incomplete", row
        assert "C-MOVE" in row.reason and 40 <= row.received < 130
        assert project.studies().empty  # nothing half-imported
        held = node.pending()
        assert held["instances"].tolist() == [row.received]
        assert "pull from 'SMALL' incomplete" in held["held"].iloc[0]
        assert node.import_now() == []  # held series are not imported by the node either

        small_orthanc.start()
        plan = pull("SMALL", project, series=t1, dry_run=True, receiver=node, config=cfg)
        assert plan.iloc[0].in_incoming == row.received
        assert plan.iloc[0].to_pull == 130 - row.received
        done = pull("SMALL", project, series=t1, receiver=node, config=cfg, progress=False)
    finally:
        node.stop()
    assert done.iloc[0].status == "imported", done.iloc[0].reason
    assert done.iloc[0].received == 130 - row.received  # only what was missing moved
    (nii,) = project.resolve(done.iloc[0].psid, f"{done.iloc[0].series_folder}/*.nii.gz")
    assert 130 in nib.load(nii).shape
    assert node.pending().empty


def test_results_go_back_to_the_pacs(project, cfg, small_orthanc, tmp_path):
    from nora_lab.imaging import ROI, series_grid, to_dicom_seg

    cfg.add("SMALL", aet=small_orthanc.aet, host="127.0.0.1", port=small_orthanc.dicom_port)
    t1 = find_series("SMALL", config=cfg)
    got = pull("SMALL", project, series=t1, keep_dicom=True, config=cfg, progress=False)
    psid, folder = got.iloc[0].psid, got.iloc[0].series_folder
    assert got.iloc[0].status == "imported"
    sent = push_study("SMALL", project, psid, config=cfg, progress=False)
    assert len(sent) == 130 and set(sent["status"]) == {"sent"}
    assert small_orthanc.count_instances() == 130  # the same instances: nothing duplicated

    with tarfile.open(project.study_dir(psid) / folder / "dicom.tar.gz") as tf:
        tf.extractall(tmp_path / "orig", filter="data")
    source = [pydicom.dcmread(p) for p in sorted((tmp_path / "orig").glob("*.dcm"))]
    assert len(source) == 130
    for ds in source:  # GE writes the orientation with 1e-8 jitter, which highdicom refuses
        ds.ImageOrientationPatient = source[0].ImageOrientationPatient
    grid, _ = series_grid(source)
    roi = ROI(np.zeros(grid.shape), grid.affine, name="lesion")
    roi.data[100:110, 100:110, 60:65] = True
    seg = to_dicom_seg(source, roi, series_description="nora_lab lesion")
    res = push("SMALL", seg, config=cfg, progress=False)
    assert res["status"].tolist() == ["sent"], res.reason
    back = find_series("SMALL", config=cfg, modality="SEG")
    assert back["SeriesDescription"].tolist() == ["nora_lab lesion"]
    assert back["StudyInstanceUID"].tolist() == t1["StudyInstanceUID"].tolist()

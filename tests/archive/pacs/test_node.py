"""Our DICOM node against third-party clients (dcmtk) and faults: aborted associations,
a killed node, duplicates, payloads that are not DICOM — on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pydicom
import pytest
import sqlalchemy as sa
from pydicom.uid import MRImageStorage
from pynetdicom.sop_class import Verification

from nora_lab.archive import _db
from nora_lab.archive.dicom._tables import dicom_instances
from nora_lab.archive.pacs import DicomNode, find_series, find_studies, push
from nora_lab.archive.pacs._net import FastAE
from nora_lab.testing.pacs import dcmtk

from .conftest import GE_T1, SI_EPI, TS

pytestmark = pytest.mark.pacs


def _node(archive, cfg, **kw):
    kw.setdefault("project", "p")
    return DicomNode(archive, config=cfg, **kw).start()


def _us(node):
    from nora_lab.archive.pacs.nodes import PacsNode

    return PacsNode("us", aet=node.aet, host="127.0.0.1", port=node.port, calling_aet="TESTER")


def _rows(project):
    with _db.read(project.archive.engine) as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(dicom_instances).where(
            dicom_instances.c.project_id == project.pk)).scalar()


def _dataset_bytes(path):
    with open(path, "rb") as fh:
        fh.seek(132)
        pydicom.filereader._read_file_meta_info(fh)
        return fh.read()


def test_dcmtk_echo_store_and_find(archive, project, cfg):
    node = _node(archive, cfg)
    try:
        dcmtk("echoscu", "-aet", "MODALITY", "-aec", node.aet, "127.0.0.1", node.port)
        dcmtk("storescu", "+sd", "+r", "-aet", "MODALITY", "-aec", node.aet, "127.0.0.1",
              node.port, GE_T1)
        assert node.wait_idle(120)
        (report,) = node.reports
        assert report.count("converted") == 1 and report.series[0].instances == 130
        study = find = dcmtk("findscu", "-S", "-aet", "MODALITY", "-aec", node.aet,
                             "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientName=DIC*",
                             "-k", "StudyInstanceUID", "-k", "NumberOfStudyRelatedInstances",
                             "127.0.0.1", node.port)
        text = study.stderr + study.stdout
        assert text.count("Find Response") == 1 and "[130 ]" in text
        find = dcmtk("findscu", "-S", "-aet", "MODALITY", "-aec", node.aet,
                     "-k", "QueryRetrieveLevel=SERIES", "-k", "StudyInstanceUID",
                     "-k", "SeriesDescription", "-k", "NumberOfSeriesRelatedInstances",
                     "127.0.0.1", node.port)
        assert "[3D Ax T1 MP-RAGE_R22]" in find.stderr + find.stdout
        patients = dcmtk("findscu", "-P", "-aet", "MODALITY", "-aec", node.aet,
                         "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID",
                         "127.0.0.1", node.port)
        assert re.search(r"PatientID\s*$|\[dicom ?\]", patients.stderr + patients.stdout,
                         re.M)
        # and pynetdicom's own C-FIND against the node, level by level
        series = find_series(_us(node), config=cfg)
        assert series["NumberOfSeriesRelatedInstances"].tolist() == [130]
        assert series["Modality"].tolist() == ["MR"]
    finally:
        node.stop()


def test_compressed_transfer_syntaxes_are_stored_as_received(archive, project, cfg):
    node = _node(archive, cfg, auto_import=False)
    try:
        dcmtk("dcmsend", "+sd", "--decompress-never", "-aet", "MODALITY", "-aec", node.aet,
              "127.0.0.1", node.port, TS)
        stored = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID: p
                  for p in node.incoming.root.glob("p/*/*/*.dcm")}
        assert len(stored) == 9
        compressed = 0
        for src in TS.iterdir():
            ds = pydicom.dcmread(src, stop_before_pixels=True)
            mine = stored[ds.SOPInstanceUID]
            ts = pydicom.dcmread(mine, stop_before_pixels=True).file_meta.TransferSyntaxUID
            if ds.file_meta.TransferSyntaxUID.is_compressed:  # kept as sent, byte for byte
                compressed += 1
                assert ts == ds.file_meta.TransferSyntaxUID
                assert _dataset_bytes(mine) == _dataset_bytes(src)
            else:  # dcmsend may re-encode uncompressed data (big endian -> little)
                assert not ts.is_compressed
        assert compressed == 6  # RLE, JPEG lossless ×2, JPEG-LS ×2, JPEG 2000
        (report,) = node.import_now()
        assert report.count("converted") == 9
    finally:
        node.stop()


def test_only_allowed_callers_get_in(archive, project, cfg):
    node = _node(archive, cfg, allowed_calling_aets=["MODALITY"])
    try:
        dcmtk("echoscu", "-aet", "MODALITY", "-aec", node.aet, "127.0.0.1", node.port)
        out = dcmtk("echoscu", "-aet", "STRANGER", "-aec", node.aet, "127.0.0.1", node.port,
                    check=False)
        assert out.returncode != 0 and "Rejected" in out.stderr + out.stdout
    finally:
        node.stop()


def _send(port, files, *, abort_after=None, calling="MODALITY", keep_open=False):
    """Send files on one association; abort after ``abort_after`` of them."""
    ae = FastAE(ae_title=calling)
    ae.add_requested_context(MRImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title="NORA")
    assert assoc.is_established
    for n, f in enumerate(files):
        if abort_after is not None and n == abort_after:
            assoc.abort()
            return None
        assert assoc.send_c_store(pydicom.dcmread(f)).Status == 0
    if keep_open:
        return assoc
    assoc.release()
    return None


def test_an_aborted_association_never_completes_a_series(archive, project, cfg):
    files = sorted((SI_EPI / "mr_0003").glob("*.dcm"))
    node = _node(archive, cfg)
    try:
        _send(node.port, files, abort_after=1)
        time.sleep(0.8)  # longer than the quiet period
        assert node.import_now() == [] and project.studies().empty
        held = node.pending()
        assert held["instances"].tolist() == [1]
        assert "association from 'MODALITY' was aborted by the peer after 1 instance" in \
            held["held"][0]
        _send(node.port, files)  # the modality sends the series again, completely
        assert node.wait_idle(60)
        assert project.studies()["psid"].tolist() == [node.reports[-1].studies[0]]
        assert _rows(project) == 2 and node.pending().empty
    finally:
        node.stop()


NODE_SCRIPT = """
import sys, time
from nora_lab.archive import Archive
from nora_lab.archive.pacs import DicomNode
from nora_lab.archive.pacs.nodes import PacsConfig
url, root, cfg_path = sys.argv[1:]
arc = Archive.open(url, root=root, user="alice")
node = DicomNode(arc, config=PacsConfig(cfg_path), project="p", quiet_period=3600).start()
print("LISTENING", flush=True)
time.sleep(600)
"""


def test_a_killed_node_holds_what_was_cut_and_imports_the_rest_on_restart(
        archive, url, project, cfg):
    cfg.save()
    proc = subprocess.Popen([sys.executable, "-c", NODE_SCRIPT, url, str(archive.root),
                             str(cfg.path)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout.readline().strip() == "LISTENING"
        complete = sorted((SI_EPI / "mr_0004").glob("*.dcm"))
        cut = sorted((SI_EPI / "mr_0003").glob("*.dcm"))
        _send(cfg.local.port, complete)  # released: complete, waits for the quiet period
        assoc = _send(cfg.local.port, cut[:1], keep_open=True)  # still sending…
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assoc.abort()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert project.studies().empty
    node = _node(archive, cfg)  # the restart
    try:
        assert node.wait_idle(60)
        (report,) = node.reports
        assert report.count("converted") == 1 and _rows(project) == 2
        held = node.pending()
        assert held["instances"].tolist() == [1]
        assert "node stopped while receiving from 'MODALITY'" in held["held"][0]
        assert node.release(held["StudyInstanceUID"][0]) == 1  # the user's decision
        assert node.wait_idle(60) and _rows(project) == 3
    finally:
        node.stop()


def test_a_duplicate_push_adds_nothing(archive, project, cfg):
    files = sorted((SI_EPI / "mr_0005").glob("*.dcm"))
    node = _node(archive, cfg)
    try:
        _send(node.port, files + files)  # the same instances twice in one association
        assert node.wait_idle(60)
        before = sorted(p.relative_to(project.root) for p in project.root.rglob("*")
                        if p.is_file() and ".nora-import" not in p.parts)
        assert _rows(project) == 2
        sent = push(_us(node), files, config=cfg, progress=False)
        assert sent["status"].tolist() == ["sent", "sent"]
        assert node.wait_idle(60)
        assert node.reports[-1].count("already imported") == 1
        after = sorted(p.relative_to(project.root) for p in project.root.rglob("*")
                       if p.is_file() and ".nora-import" not in p.parts)
        assert after == before and _rows(project) == 2
        assert len(project.files()) == len([p for p in before if p.suffix != ".lock"])
        assert node.pending().empty
    finally:
        node.stop()


def test_payloads_that_are_not_dicom(archive, project, cfg, tmp_path):
    node = _node(archive, cfg)
    try:
        with socket.create_connection(("127.0.0.1", node.port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert s.recv(100) in (b"", b"\x07\x00\x00\x00\x00\x04\x00\x00\x02\x00")
        assert echo_ok(node)
        good = sorted((SI_EPI / "mr_0006").glob("*.dcm"))[0]
        meta = pydicom.dcmread(good, stop_before_pixels=True).file_meta
        junk = tmp_path / "junk.dcm"
        with open(good, "rb") as fh:
            junk.write_bytes(fh.read(132 + 12 + meta.FileMetaInformationGroupLength)
                             + b"\x08\x00\x05\x00CS\x10\x00not a dataset at all")
        no_study = tmp_path / "no_study.dcm"
        ds = pydicom.dcmread(good)
        del ds.StudyInstanceUID
        ds.SOPInstanceUID = "1.2.3.4.5.6.7"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(no_study)
        res = push(_us(node), [junk, no_study], config=cfg, progress=False)
        assert res["status"].tolist() == ["failed", "failed"]
        assert all("0xC210" in r for r in res["reason"])
        time.sleep(0.8)
        assert node.import_now() == [] and project.studies().empty
        assert node.rejected == 2
        reasons = sorted(p.read_text() for p in (node.incoming.root / ".rejected").glob("*.txt"))
        assert len(reasons) == 2
        assert "has no StudyInstanceUID" in " ".join(reasons)
        assert "not a DICOM dataset we can file" in reasons[0]
        assert echo_ok(node)  # still serving
    finally:
        node.stop()


def echo_ok(node) -> bool:
    ae = FastAE(ae_title="TESTER")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", node.port, ae_title=node.aet)
    try:
        return assoc.is_established and assoc.send_c_echo().Status == 0
    finally:
        if assoc.is_established:
            assoc.release()


def test_find_answers_a_pseudonymized_project_with_pseudonyms(archive, cfg):
    archive.create_project("pp", naming="pseudonym")
    node = _node(archive, cfg, project="pp")
    try:
        _send(node.port, sorted((SI_EPI / "mr_0004").glob("*.dcm")))
        assert node.wait_idle(60)
        found = find_studies(_us(node), config=cfg)
        assert len(found) == 1
        assert found["PatientID"][0].startswith("P") and found["PatientID"][0] != "DEV"
        assert "Regression" not in str(found["PatientName"][0])
        assert find_studies(_us(node), config=cfg, patient_name="Test^*").empty
    finally:
        node.stop()


@pytest.mark.parametrize("autoexec", [True, False])
def test_imported_studies_reach_the_hooks_and_autoexec_follows_the_setting(
        archive, project, cfg, autoexec):
    """The hooks come from the importer's list and the entry-point group (the batch
    layer's auto-execution among them: the archive never imports it); the node's
    ``autoexec`` setting decides whether they may start a batch."""
    from nora_lab.archive.dicom import importer
    from nora_lab.batch import on_study_imported as autoexec_hook

    assert autoexec_hook in importer._hooks_to_call()
    seen = []
    hook = lambda proj, psid: seen.append(  # noqa: E731
        (proj.name, psid, importer.import_options.get()["autoexec_queue"]))
    importer.study_imported_hooks.append(hook)
    try:
        node = _node(archive, cfg, autoexec=autoexec)
        try:
            _send(node.port, sorted((SI_EPI / "mr_0006").glob("*.dcm")))
            assert node.wait_idle(60)
        finally:
            node.stop()
    finally:
        importer.study_imported_hooks.remove(hook)
    assert seen == [("p", node.reports[0].studies[0], "DEFAULT" if autoexec else None)]

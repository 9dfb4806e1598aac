"""Configuration, query conventions and the pure pieces of the node (no peers needed)."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.filereader import _read_file_meta_info

from nora_lab.archive.pacs import pacs_config
from nora_lab.archive.pacs._dimse import command, file_meta, parse_command
from nora_lab.archive.pacs._header import HeaderError, _slow, study_series_uids
from nora_lab.archive.pacs.answer import match
from nora_lab.archive.pacs.incoming import Incoming, safe_uid
from nora_lab.archive.pacs.query import query_keys, sequences
from nora_lab.errors import ConfigError, NotFoundError

from .conftest import GE_T1, TS


def test_config_layers_and_round_trip(tmp_path):
    path = tmp_path / "pacs.yaml"
    cfg = pacs_config(path)
    assert (cfg.local.aet, cfg.local.port, cfg.local.quiet_period) == ("NORA", 11112, 10.0)
    assert cfg.nodes == {}
    cfg.add("PACS1", "ORTHANC", "pacs.example.org", 4242, max_associations=3)
    cfg.set_local(aet="MYNODE", projects={"NORA_DEMO": "demo"})
    cfg.save()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".nora-tmp")]
    again = pacs_config(path, quiet_period=2)  # keyword arguments win
    node = again.node("PACS1")
    assert (node.aet, node.host, node.port, node.max_associations) == \
        ("ORTHANC", "pacs.example.org", 4242, 3)
    assert again.calling_aet(node) == again.move_destination(node) == "MYNODE"
    assert again.local.quiet_period == 2 and again.local.port == 11112
    assert again.local.project_for("NORA_DEMO", "SCANNER") == "demo"
    assert again.local.project_for("OTHER", "SCANNER") is None
    again.remove("PACS1", save=True)
    assert pacs_config(path).nodes == {}


def test_config_env_and_json(tmp_path, monkeypatch):
    path = tmp_path / "nodes.json"
    path.write_text('{"nodes": {"X": {"aet": "XA", "host": "h", "port": 104}}}')
    monkeypatch.setenv("NORA_PACS", str(path))
    assert pacs_config().node("X").aet == "XA"


@pytest.mark.parametrize("text, message", [
    ("nodes: [1, 2]", "expected a mapping"),
    ("nodes: {X: {aet: XA, host: h, port: 99999}}", "port 99999"),
    ("nodes: {X: {aet: WAY_TOO_LONG_AE_TITLE, host: h, port: 1}}", "1-16 ASCII"),
    ("nodes: {X: {aet: XA, host: h, port: 1, colour: red}}", "unknown setting.*colour"),
    ("nodes: {X: {aet: XA, retrieve: fax}}", "retrieve 'fax'"),
    ("local: {quiet_period: -1}", "quiet_period"),
    ("nodes: {X: [", "not valid YAML"),
])
def test_bad_config_names_the_file_and_the_value(tmp_path, text, message):
    path = tmp_path / "pacs.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        pacs_config(path)


def test_unknown_node_lists_the_known_ones(tmp_path):
    cfg = pacs_config(tmp_path / "pacs.yaml")
    cfg.add("A", "AA", "h", 1)
    with pytest.raises(NotFoundError, match=r"no PACS node 'B' .*known: A.*--pacs-add B"):
        cfg.node("B")


def test_query_keys_follow_noras_conventions():
    assert query_keys("study", patient_name="Doe^J*", study_date="2020", modality="MR") == {
        "PatientName": "Doe^J*", "StudyDate": "20200101-20201231", "ModalitiesInStudy": "MR"}
    assert query_keys("series", modality="MR", series_description="*t1*") == {
        "Modality": "MR", "SeriesDescription": "*t1*"}
    assert query_keys("study", study_date="2020-03-04")["StudyDate"] == "20200304"
    assert query_keys("study", study_date="20200101-")["StudyDate"] == "20200101-"
    assert query_keys("study", study_date=(dt.date(2020, 1, 1), "2020-06-30"))["StudyDate"] \
        == "20200101-20200630"
    assert query_keys("study", study_date="2020-01-01..2020-02-01")["StudyDate"] == \
        "20200101-20200201"
    assert query_keys("study", patient_name="*", study_date="*", patient_id="") == {}
    assert query_keys("study", study_uid=["1.2", "1.3"]) == {"StudyInstanceUID": "1.2\\1.3"}
    assert query_keys("study", AccessionNumber="A1") == {"AccessionNumber": "A1"}
    with pytest.raises(ConfigError, match="unknown query key 'colour'"):
        query_keys("study", colour="red")
    with pytest.raises(ConfigError, match="date '31.12.2020'"):
        query_keys("study", study_date="31.12.2020")


def test_sequences_count_studies_like_noras_result_view():
    import pandas as pd

    series = pd.DataFrame([
        {"PatientID": "A", "StudyInstanceUID": "1", "SeriesInstanceUID": "1.1",
         "Modality": "MR", "SeriesDescription": "t1", "NumberOfSeriesRelatedInstances": 10},
        {"PatientID": "A", "StudyInstanceUID": "2", "SeriesInstanceUID": "2.1",
         "Modality": "MR", "SeriesDescription": "t1", "NumberOfSeriesRelatedInstances": 12},
        {"PatientID": "B", "StudyInstanceUID": "3", "SeriesInstanceUID": "3.1",
         "Modality": "MR", "SeriesDescription": "t1", "NumberOfSeriesRelatedInstances": 11},
        {"PatientID": "B", "StudyInstanceUID": "3", "SeriesInstanceUID": "3.2",
         "Modality": "MR", "SeriesDescription": "flair", "NumberOfSeriesRelatedInstances": 5},
    ])
    seq = sequences(series)
    assert list(seq["SeriesDescription"]) == ["t1", "flair"]
    t1 = seq.iloc[0]
    assert (t1.in_studies, t1.in_patients, t1.series, t1.instances) == (3, 2, 3, 33)
    assert t1.StudyInstanceUIDs == ["1", "2", "3"]
    assert sequences(series.iloc[:0]).empty


@pytest.mark.parametrize("value, pattern, kind, expected", [
    ("Doe^John", "doe^j*", "pn", True), ("Doe^John", "doe^j*", "str", False),
    ("Doe^John", "D?e^John", "str", True), ("20200505", "20200101-20201231", "date", True),
    ("20210505", "20200101-20201231", "date", False), ("20210505", "-20201231", "date", False),
    ("", "20200101-", "date", False), ("1.2.3", "1.2.4\\1.2.3", "uid", True),
    ("x", "", "str", True), ("x", "*", "str", True), ("a[b", "a[b", "str", True),
])
def test_cfind_matching(value, pattern, kind, expected):
    assert match(value, pattern, kind) is expected


def _dataset_part(path):
    with open(path, "rb") as fh:
        fh.seek(132)
        meta = _read_file_meta_info(fh)
        return fh.read(), str(meta.TransferSyntaxUID)


def test_header_walk_agrees_with_pydicom():
    files = sorted(GE_T1.iterdir())[:5] + sorted(TS.iterdir())
    for path in files:
        data, ts = _dataset_part(path)
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert study_series_uids(data, ts) == (ds.StudyInstanceUID, ds.SeriesInstanceUID)
        assert _slow(data, ts) == (ds.StudyInstanceUID, ds.SeriesInstanceUID)
    ds = Dataset()
    ds.PatientName = "No^UIDs"
    buf = io.BytesIO()
    ds.save_as(buf, implicit_vr=True, little_endian=True)
    with pytest.raises(HeaderError, match="has no StudyInstanceUID"):
        study_series_uids(buf.getvalue(), "1.2.840.10008.1.2")
    for junk in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 3, b"\x08\x00\x05"):
        with pytest.raises(HeaderError, match="not a DICOM dataset we can file"):
            study_series_uids(junk, "1.2.840.10008.1.2.1")


def test_command_sets_and_file_meta_round_trip(tmp_path):
    raw = command((0x0002, "1.2.840.10008.5.1.4.1.1.4", "UI"), (0x0100, 0x8001, "US"),
                   (0x0120, 7, "US"), (0x0800, 0x0101, "US"), (0x0900, 0, "US"),
                   (0x1000, "1.2.3.4", "UI"))
    cmd = parse_command(raw)
    assert cmd[0x0000] == len(raw) - 12
    assert (cmd[0x0002], cmd[0x0100], cmd[0x0120], cmd[0x1000]) == \
        ("1.2.840.10008.5.1.4.1.1.4", 0x8001, 7, "1.2.3.4")
    data, ts = _dataset_part(sorted(GE_T1.iterdir())[0])
    path = tmp_path / "x.dcm"
    path.write_bytes(file_meta("1.2.840.10008.5.1.4.1.1.4", "1.2.3.45", ts, "SCANNER") + data)
    back = pydicom.dcmread(path)
    assert back.file_meta.MediaStorageSOPInstanceUID == "1.2.3.45"
    assert back.file_meta.TransferSyntaxUID == ts
    assert back.file_meta.SourceApplicationEntityTitle == "SCANNER"
    assert back.pixel_array.shape == (back.Rows, back.Columns)


def test_incoming_writes_atomically_and_journals_hold_cut_series(tmp_path):
    inc = Incoming(tmp_path / "in")
    j = inc.journal("SCANNER", "NORA")
    j.touch("p", "1.2", "1.2.1")
    inc.write("p", "1.2", "1.2.1", "1.2.1.1", [b"abc", bytearray(b"def")])
    inc.write("p", "1.2", "1.2.1", "1.2.1.1", [b"abcdef"])  # the same instance again
    folder = inc.series_dir("p", "1.2", "1.2.1")
    assert [p.name for p in folder.iterdir()] == ["1.2.1.1.dcm"]
    assert (folder / "1.2.1.1.dcm").read_bytes() == b"abcdef"
    assert j.path.is_file()
    assert inc.busy() == {("p", "1.2")}  # a live association: its study is not imported
    assert inc.recover() == []  # nor held: its process is alive
    # a node killed here leaves the journal: the next start holds the series
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    header, *rest = j.path.read_text().splitlines(keepends=True)
    j.path.write_text(header.replace(f'"pid": {os.getpid()}', f'"pid": {dead}') + "".join(rest))
    reasons = Incoming(tmp_path / "in").recover()
    assert len(reasons) == 1 and "node stopped while receiving from 'SCANNER'" in reasons[0]
    assert "may be incomplete" in inc.held("p", "1.2", "1.2.1")
    assert inc.ready(0.0) == []  # held: not imported
    j2 = inc.journal("SCANNER", "NORA")
    j2.touch("p", "1.2", "1.2.1")
    j2.finish(True)  # sent again and released normally: the hold is lifted
    assert inc.held("p", "1.2", "1.2.1") is None
    (study, series) = inc.ready(0.0)[0][1:]
    assert study == "1.2" and [s.instances for s in series] == [1]
    assert inc.ready(3600.0) == []  # not quiet long enough
    j3 = inc.journal("SCANNER", "NORA")
    j3.touch("p", "1.2", "1.2.1")
    j3.finish(False, "was aborted")
    assert "association from 'SCANNER' was aborted after 1 instance" in \
        inc.held("p", "1.2", "1.2.1")
    assert inc.release("p", "1.2") == 1
    assert list(inc.pending()["instances"]) == [1]


def test_unsafe_uids_become_hashes(tmp_path):
    assert safe_uid("1.2.840.10008") == "1.2.840.10008"
    for bad in ("../../etc", "1.2/3", "..", "1..2", "", "x" * 300):
        name = safe_uid(bad)
        assert name.startswith("x-") and "/" not in name and len(name) < 40
    inc = Incoming(tmp_path / "in")
    path = inc.write("p", "../../..", "/etc", "../x", [b"d"])
    assert str(inc.root) in os.path.realpath(path)

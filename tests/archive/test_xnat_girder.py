"""XNAT and Girder: no server of either runs here, so these tests cover what can run — the
import of a download laid out as XNAT writes one (made in the test), and the clear errors
for an unreachable server and a missing client package. The download itself is untested."""

from __future__ import annotations

import shutil
import sys

import pytest
from test_seg_import import synthetic_series

from nora_lab.archive.xnat_girder import import_xnat_download, pull_girder, pull_xnat
from nora_lab.errors import ConfigError, PacsError
from nora_lab.testing.pacs import free_port


def test_an_xnat_download_imports_its_dicom_scans(archive, tmp_path):
    """XNAT's layout: <label>/scans/<id>-<type>/resources/<RESOURCE>/files/…"""
    scan = tmp_path / "dl" / "MR_E1" / "scans" / "2-T1_MPRAGE" / "resources"
    synthetic_series(tmp_path / "series")
    shutil.copytree(tmp_path / "series", scan / "DICOM" / "files")
    (scan / "SNAPSHOTS" / "files").mkdir(parents=True)
    (scan / "SNAPSHOTS" / "files" / "thumb.gif").write_bytes(b"GIF89a")
    proj = archive.create_project("from_xnat")
    report = import_xnat_download(proj, tmp_path / "dl")
    assert report.count("converted") == 1
    assert proj.studies().psid.tolist() == ["demo01#MR1"]
    assert len(proj.files("2_T1*/*.nii.gz")) == 1


def test_an_unreachable_xnat_or_girder_server_is_named(archive):
    proj = archive.create_project("p")
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(PacsError, match=f"cannot connect to XNAT at {url}"):
        pull_xnat(proj, url, "STUDY1", user="u", password="p")
    with pytest.raises(PacsError, match=f"from Girder at {url}/api/v1"):
        pull_girder(proj, f"{url}/api/v1", "64ab0000", api_key="k")
    assert proj.studies().empty


def test_a_missing_client_package_says_what_to_install(archive, monkeypatch):
    proj = archive.create_project("p")
    monkeypatch.setitem(sys.modules, "xnat", None)
    monkeypatch.setitem(sys.modules, "girder_client", None)
    with pytest.raises(ConfigError, match="pip install xnat"):
        pull_xnat(proj, "http://x", "P")
    with pytest.raises(ConfigError, match="pip install girder-client"):
        pull_girder(proj, "http://x/api/v1", "f")

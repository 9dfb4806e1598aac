"""Real peers for the PACS tests: an Orthanc PACS (a plain process, its own JSON config,
loopback only, free ports, storage in a temp dir) and dcmtk's tools.

The session's Orthanc knows two modalities: ``NORA`` (our node, on the session's ``node_port``)
and ``DCMTK`` (a dcmtk ``storescp``). It holds, read in place from the suite's test data
(:mod:`nora_lab.testing.testdata`): the GE 3D T1 of dcm_qa_ge (130 instances), the four
2-instance Siemens EPI series of dcm_qa_nih and the nine transfer-syntax variants of dcm_qa_ts
(RLE, JPEG lossless, JPEG-LS, JPEG 2000, big endian, …). A peer that cannot start fails the
tests with the reason — never a skip.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from nora_lab.archive.pacs.nodes import PacsConfig
from nora_lab.testing import testdata
from nora_lab.testing.pacs import OrthancServer, ServiceError, dcmtk_path, free_port

DICOM = testdata.dicom_root()
GE_T1 = DICOM / "dcm_qa_ge" / "In" / "05_3D_Ax_T1_MP_RAGE_R22"
SI_EPI = DICOM / "dcm_qa_nih" / "In" / "20180918Si"
TS = DICOM / "dcm_qa_ts" / "In"


@pytest.fixture(autouse=True)
def _quiet_pynetdicom():
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)


@pytest.fixture(scope="session")
def node_port() -> int:
    """The port our node listens on in every test (Orthanc's NORA modality)."""
    return free_port()


@pytest.fixture(scope="session")
def dcmtk_port() -> int:
    return free_port()


def _orthanc(base: Path, node_port: int, dcmtk_port: int, *sources: Path) -> OrthancServer:
    for tool in ("echoscu", "storescu", "findscu", "movescu", "storescp", "dcmsend"):
        try:
            dcmtk_path(tool)
        except ServiceError as exc:
            pytest.fail(str(exc), pytrace=False)
    server = OrthancServer(base, modalities={"NORA": ("NORA", "127.0.0.1", node_port),
                                             "DCMTK": ("DCMTK", "127.0.0.1", dcmtk_port)})
    try:
        server.start()
        server.load(*sources)
    except (ServiceError, OSError) as exc:
        server.close()
        pytest.fail(f"Orthanc could not start or load the test data, so the PACS tests "
                    f"cannot run: {exc}", pytrace=False)
    return server


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory, node_port, dcmtk_port):
    """The session's Orthanc, loaded with the T1, the EPI series and the TS variants."""
    server = _orthanc(tmp_path_factory.mktemp("orthanc"), node_port, dcmtk_port,
                      GE_T1, SI_EPI, TS)
    yield server
    server.close()


@pytest.fixture
def small_orthanc(tmp_path, node_port, dcmtk_port):
    """A private Orthanc with the T1 only, for tests that stop it."""
    server = _orthanc(tmp_path / "orthanc", node_port, dcmtk_port, GE_T1)
    yield server
    server.close()


@pytest.fixture
def cfg(tmp_path, node_port, orthanc) -> PacsConfig:
    """A PACS configuration in tmp_path: our node on ``node_port``, a 0.3 s quiet period,
    the session's Orthanc as node ``ORTHANC``."""
    c = PacsConfig(tmp_path / "pacs.yaml", port=node_port, host="127.0.0.1",
                   incoming=str(tmp_path / "incoming"), quiet_period=0.3, autoexec=False)
    c.add("ORTHANC", aet=orthanc.aet, host="127.0.0.1", port=orthanc.dicom_port, timeout=30)
    return c


@pytest.fixture
def project(archive):
    return archive.create_project("p")

"""Segmentation fixtures: projects with small labelled studies, a model trained once per
module on SQLite (training is the slow part), and the real single-node Slurm of
``tests/batch/conftest.py``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # segstudies, here and in the jobs' processes

from segstudies import IMAGE, LABELS, TINY, make_studies  # noqa: E402


def _batch_fixtures():
    spec = importlib.util.spec_from_file_location("_batch_conftest",
                                                  HERE.parent / "batch" / "conftest.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


_BATCH = _batch_fixtures()
slurm = _BATCH.slurm  # the same single-node Slurm fixture the batch tests use
_nora_home = _BATCH._nora_home  # never read the developer's ~/.nora_lab/batch.yaml


@pytest.fixture
def project(archive):
    return archive.create_project("seg")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(project, model name, PSIDs): 4 labelled studies + 2 unlabelled, a tiny model
    trained on the labelled ones as a local batch job (SQLite)."""
    from nora_lab.archive import Archive
    from nora_lab.segment import train

    tmp = tmp_path_factory.mktemp("seg-trained")
    arc = Archive.open(f"sqlite:///{tmp / 'archive.sqlite'}", root=tmp / "data", user="alice")
    proj = arc.create_project("seg")
    labelled = make_studies(proj, 4)
    new = make_studies(proj, 2, first=4, labels=False)
    run = train(proj, "blobs", images=IMAGE, labels=LABELS, studies=labelled, wait=True,
                threads=1, **TINY)
    yield proj, "blobs", labelled, new, run
    arc.close()

"""Fixtures and comparisons for the DICOM import tests.

The DICOM test data (``dicom_dir``, from the suite's conftest) is read in place; tests that
damage files copy the few they need into ``tmp_path`` first.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dicom_helpers import NIBABEL_DATA


@pytest.fixture
def project(archive):
    return archive.create_project("p")


@pytest.fixture
def pseudo_project(archive):
    return archive.create_project("pp", naming="pseudonym")


@pytest.fixture
def dwi_dir(tmp_path) -> Path:
    """The Siemens mosaic DTI series (b=0, b=1000) shipped with nibabel, unpacked."""
    import gzip

    dest = tmp_path / "dwi"
    dest.mkdir()
    for name in ("siemens_dwi_0.dcm.gz", "siemens_dwi_1000.dcm.gz"):
        with gzip.open(NIBABEL_DATA / name) as fin, open(dest / name[:-3], "wb") as fout:
            shutil.copyfileobj(fin, fout)
    for name in ("0.dcm", "1.dcm"):
        shutil.copyfile(NIBABEL_DATA / name, dest / name)
    return dest

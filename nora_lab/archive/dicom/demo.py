"""The vendor series of the demo archive, imported through the real path from DICOM that
pip installs.

The DICOM comes from the test data that ships inside the nibabel and pydicom wheels, so
a fresh machine has it without any download:

* nibabel ``nicom/tests/data/philips_mprage.dcm.gz`` — a Philips enhanced multi-frame
  3D MPRAGE (176 frames of 256², Philips scaling);
* nibabel ``siemens_dwi_0.dcm.gz``, ``siemens_dwi_1000.dcm.gz``, ``0.dcm``, ``1.dcm`` — a
  Siemens mosaic DTI series (b=0 and b=1000: ``.bval``/``.bvec``);
* pydicom ``CT_small.dcm`` and ``MR_small.dcm`` — two more patients.

``make lab``'s demo (:mod:`nora_lab.demo`) adds these as extra studies next to its cohort
of subjects with real anatomy; :func:`build_demo_archive` builds a project of the vendor
series alone.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from nora_lab.errors import DicomImportError

__all__ = ["build_demo_archive", "import_vendor_series", "demo_dicom_folder", "DEMO_FILES"]

#: (package, path inside it) of every demo file
DEMO_FILES = (
    ("nibabel", "nicom/tests/data/philips_mprage.dcm.gz"),
    ("nibabel", "nicom/tests/data/siemens_dwi_0.dcm.gz"),
    ("nibabel", "nicom/tests/data/siemens_dwi_1000.dcm.gz"),
    ("nibabel", "nicom/tests/data/0.dcm"),
    ("nibabel", "nicom/tests/data/1.dcm"),
    ("pydicom", "data/test_files/CT_small.dcm"),
    ("pydicom", "data/test_files/MR_small.dcm"),
)


def demo_dicom_folder(dest: Path) -> Path:
    """Copy (and gunzip) the demo DICOM files into ``dest``; return ``dest``.

    Raises
    ------
    DicomImportError
        If an installed nibabel or pydicom lacks its test data.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for package, inner in DEMO_FILES:
        src = Path(str(resources.files(package).joinpath(inner)))
        if not src.is_file():
            raise DicomImportError(
                f"demo data {inner!r} is not in the installed {package} ({src}); "
                f"reinstall it from its wheel: pip install --force-reinstall {package}")
        name = src.name.removesuffix(".gz")
        if src.name.endswith(".gz"):
            with gzip.open(src, "rb") as fin, open(dest / name, "wb") as fout:
                shutil.copyfileobj(fin, fout)
        else:
            shutil.copyfile(src, dest / name)
    return dest


def import_vendor_series(project: Any, *, progress: bool = False) -> Any:
    """Import the vendor DICOM into ``project`` (a :class:`Project`); a re-run adds nothing.

    Returns
    -------
    ImportReport
    """
    from nora_lab.archive.dicom.importer import import_dicom

    with tempfile.TemporaryDirectory(prefix="nora-demo-") as tmp:
        src = demo_dicom_folder(Path(tmp) / "dicom")
        return import_dicom(project, src, progress=progress)


def build_demo_archive(home: Path, *, project: str = "demo", user: str | None = None,
                       progress: bool = False) -> Any:
    """Create (or complete) a project of the vendor series in the archive at ``home``.

    Runs the real :func:`~nora_lab.archive.dicom.import_dicom` on the vendor DICOM;
    running it again adds nothing. (``make lab``'s whole demo, with the cohort of
    subjects, is :func:`nora_lab.demo.build_demo`.)

    Parameters
    ----------
    home
        A NORA home folder (``archive.sqlite`` and ``data/`` inside), created if needed.
    project
        The project's name.
    user
        Open the archive as this user (default: the current user).
    progress
        Show progress bars.

    Returns
    -------
    ImportReport
        The import's report (``report.project`` names the project).
    """
    from nora_lab.archive import Archive

    arc = Archive.open(Path(home), user=user)
    try:
        proj = arc.create_project(project, exist_ok=True)
        return import_vendor_series(proj, progress=progress)
    finally:
        arc.close()

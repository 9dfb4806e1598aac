"""DICOM import: scan, group, convert with dcm2niix, compress, file into the archive.

The public API::

    from nora_lab.archive.dicom import import_dicom, ImportReport, on_study_imported
    report = import_dicom(project, "/data/incoming/exam.zip")

Submodules load lazily: importing this package (as the archive's migrations do, for
the ``dicom_instances`` table) costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["import_dicom", "ImportReport", "SeriesReport", "on_study_imported", "Policy",
           "build_demo_archive"]

_WHERE = {
    "import_dicom": "importer",
    "on_study_imported": "importer",
    "ImportReport": "report",
    "SeriesReport": "report",
    "Policy": "_naming",
    "build_demo_archive": "demo",
}

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.archive.dicom._naming import Policy
    from nora_lab.archive.dicom.demo import build_demo_archive
    from nora_lab.archive.dicom.importer import import_dicom, on_study_imported
    from nora_lab.archive.dicom.report import ImportReport, SeriesReport


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        module = importlib.import_module(f"{__name__}.{_WHERE[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

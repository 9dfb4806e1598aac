"""DICOM import: scan, group, convert with dcm2niix, compress, file into the archive.

The public API::

    from nora_lab.archive.dicom import import_dicom, ImportReport, study_imported_hooks
    report = import_dicom(project, "/data/incoming/exam.zip")

Where each decision is made and documented:

======================  ==================================================================
``importer``            the pipeline, ``study_imported_hooks``, ``import_options``
``_scan``               every file of a folder, zip or list; non-DICOM set aside
``_instance``           one header → an Instance, or why the file is skipped
``_elements``           the element walker (headers at 0.1 ms a file; pydicom for the rest)
``_group``              study/series grouping; missing slices, spacing, tilt notes
``_dcm2niix_grouping``  series that dcm2niix stacks into one output, merged (its rules)
``_naming``             subject/study ids, series folder and file names, the ``Policy``
``_convert``            dcm2niix flags (Philips precise scaling), nibabel output checks
``_compress``           parallel gzip (zlib-ng, level 5, one standard gzip member)
``_work``               conversion units; dcm2niix started while the scan still runs
``_sidecar``            sidecar keys added, identities removed (pseudonymized projects)
``_staging``            private work folder, crash safety, sweeping a dead import's files
``_plan``               already imported, completing series that arrive in parts
``_tables``             the ``dicom_instances`` table (migration ``v002_dicom``)
``cli``                 ``nora -p P --import PATH`` and NORA's import flags
``demo``                the demo project built from DICOM shipped in nibabel and pydicom
======================  ==================================================================

Submodules load lazily: importing this package (as the archive's migrations do, for
the ``dicom_instances`` table) costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nora_lab._lazy import lazy_names

__all__ = ["import_dicom", "ImportReport", "SeriesReport", "study_imported_hooks", "Policy",
           "build_demo_archive"]

_WHERE = {
    "import_dicom": "importer",
    "study_imported_hooks": "importer",
    "ImportReport": "report",
    "SeriesReport": "report",
    "Policy": "_naming",
    "build_demo_archive": "demo",
}

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.archive.dicom._naming import Policy
    from nora_lab.archive.dicom.demo import build_demo_archive
    from nora_lab.archive.dicom.importer import import_dicom, study_imported_hooks
    from nora_lab.archive.dicom.report import ImportReport, SeriesReport


#: renamed: the list of hooks was ``on_study_imported`` (the batch layer's hook's name)
_DEPRECATED = {"on_study_imported": "importer:study_imported_hooks"}

__getattr__, __dir__ = lazy_names(__name__, _WHERE, __all__, deprecated=_DEPRECATED)

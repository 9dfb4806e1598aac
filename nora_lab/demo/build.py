"""Build (or complete) the demo project: the cohort, its derived files, the QC batch and
the vendor series — every step through the archive's own paths, every step skipped when
its result is already there.

1. The vendor series shipped in nibabel and pydicom
   (:func:`nora_lab.archive.dicom.demo.import_vendor_series`): the importer itself
   recognizes what it imported before.
2. Each cohort subject whose study lacks a file is synthesized
   (:mod:`~nora_lab.demo.scan`), written as a DICOM series (:mod:`~nora_lab.demo.series`)
   and imported with :func:`~nora_lab.archive.dicom.import_dicom`, like any user's DICOM
   (a complete subject costs nothing: no synthesis, no import).
3. Its GM/WM ROIs and surface are made on the imported T1 and added in one transaction
   (:mod:`~nora_lab.demo.derived`); the T1 is tagged ``t1``, the study ``control`` or
   ``patient``.
4. The QC batch runs once (:mod:`~nora_lab.demo.qc`); ``demo06``'s job ends in error.
5. The autoloader recipe ``t1 review`` (T1, ROIs and surface in the 2×2 layout) is stored
   in the project's JSON store, unless it is there (``docs/autoloader-format.md``).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cohort import SIZE, Subject, cohort
from .derived import ROI_FILES, SURFACE_FILE

__all__ = ["build_demo", "DemoReport", "T1_PATTERN", "RECIPE"]

#: the T1 of a cohort study (the importer's ``<SeriesNumber>_<SeriesDescription>`` folder)
T1_PATTERN = "2_T1_MPRAGE/s002.nii"

#: an autoloader recipe for the cohort (the desk's "Autoloaders" picker lists it)
RECIPE = ("t1 review", {
    "version": 1,
    "description": "the T1 in three planes with its GM/WM ROIs; the pial surface in 3-D",
    "layout": "2x2",
    "items": [
        {"pattern": "*T1_MPRAGE*/*.nii *.nii", "role": "background"},
        {"pattern": "rois/*.nii", "role": "roi", "match": "all", "optional": True},
        {"pattern": "surf/*.gii", "role": "surface", "viewport": 3, "color": "yellow",
         "optional": True},
    ]})


@dataclass
class DemoReport:
    """What :func:`build_demo` did.

    Attributes
    ----------
    project : str
    vendor : ImportReport
        The import of the vendor series.
    cohort : ImportReport or None
        The import of the synthesized subjects (None: all were complete already).
    made : list of str
        PSIDs of the cohort studies synthesized in this run.
    qc : dict or None
        Job states of the QC batch if it ran in this run (``{"d": 5, "e": 1}``).
    recipe : str or None
        The autoloader recipe stored in this run.
    seconds : float
    """

    project: str
    vendor: Any = None
    cohort: Any = None
    made: list[str] = field(default_factory=list)
    qc: dict[str, int] | None = None
    recipe: str | None = None
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        """Whether this run added anything."""
        return bool(self.made or self.qc or self.recipe or self.vendor.count("converted"))

    def __str__(self) -> str:
        lines = [f"demo project {self.project!r}: {self.seconds:.1f} s"
                 f"{'' if self.changed else ' (complete already: nothing added)'}",
                 f"vendor series: {self.vendor.summary()}"]
        if self.cohort is not None:
            lines.append(f"cohort: made {', '.join(self.made)}; {self.cohort.summary()}")
        if self.qc is not None:
            lines.append(f"QC batch: {self.qc}")
        if self.recipe:
            lines.append(f"autoloader recipe {self.recipe!r} stored")
        return "\n".join(lines)


def _missing(project: Any, subjects: list[Subject]) -> list[Subject]:
    """Subjects whose study lacks the T1, an ROI or the surface."""
    files = project.files()
    have = set(zip(files["psid"], files["relpath"], strict=True)) if len(files) else set()
    want = [T1_PATTERN + ".gz", *ROI_FILES.values(), SURFACE_FILE]
    return [s for s in subjects if any((s.psid, rel) not in have for rel in want)]


def _make_subjects(project: Any, subjects: list[Subject], *, progress: bool) -> Any:
    """Synthesize, write as DICOM and import ``subjects``; then file their derived files."""
    import nibabel as nib

    from nora_lab.archive.dicom import import_dicom

    from .derived import derived_files
    from .scan import acquire, scanner_grid
    from .series import write_series
    from .templates import load_templates

    templates = load_templates()
    grid = scanner_grid(templates)
    with tempfile.TemporaryDirectory(prefix="nora-demo-cohort-") as tmp:
        for s in subjects:
            write_series(s, acquire(s, templates, grid), grid, Path(tmp) / s.id)
        report = import_dicom(project, tmp, progress=progress)
    for s in subjects:
        (t1_path,) = project.files(T1_PATTERN, psid=s.psid)["path"]
        project.add_files(s.psid, derived_files(s, templates, nib.load(t1_path)))
        project.tag_files([t1_path], ["t1"])
        project.tag_study(s.psid, [s.group])
    return report


def build_demo(home: str | Path, *, project: str = "demo", user: str | None = None,
               subjects: int = SIZE, progress: bool = False) -> DemoReport:
    """Create (or complete) the demo project in the archive at ``home``.

    Parameters
    ----------
    home, project, user
        The NORA home folder (created if needed), the project's name, and the user
        the archive is opened as (default: the current user).
    subjects
        How many cohort subjects (``demo01`` …).
    progress
        Show the imports' progress bars.

    Returns
    -------
    DemoReport

    Raises
    ------
    DatasetError
        If nilearn's or nibabel's/pydicom's shipped data is missing.
    DicomImportError
        If a series cannot be imported (the report of a re-run says which).

    Examples
    --------
    >>> report = build_demo("/tmp/demo")        # doctest: +SKIP
    >>> build_demo("/tmp/demo").changed          # doctest: +SKIP
    False
    """
    from nora_lab.archive import Archive
    from nora_lab.archive import jobs as job_states
    from nora_lab.archive.dicom.demo import import_vendor_series

    from .qc import BATCH_NAME, run_qc

    start = time.perf_counter()
    arc = Archive.open(Path(home), user=user)
    try:
        proj = arc.create_project(project, exist_ok=True)
        report = DemoReport(project)
        report.vendor = import_vendor_series(proj, progress=progress)
        members = cohort(subjects)
        todo = _missing(proj, members)
        if todo:
            report.cohort = _make_subjects(proj, todo, progress=progress)
            report.made = [s.psid for s in todo]
        if not len(job_states.table(proj, name=BATCH_NAME, limit=1)):
            report.qc = run_qc(proj, [s.psid for s in members]).counts()
        if RECIPE[0] not in set(proj.list_json("autoloader")["name"]):
            proj.put_json("autoloader", *RECIPE)
            report.recipe = RECIPE[0]
        report.seconds = time.perf_counter() - start
        return report
    finally:
        arc.close()

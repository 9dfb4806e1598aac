"""Planning an import: which series need converting, where they go, what completes what.

A series whose every instance the project holds is reported "already imported". A
series of which the project holds *some* instances (a PACS node delivering a series in
parts) is *completed*: converted again from all its instances — the earlier ones from
their recorded source paths or from the series' ``dicom.tar.gz`` — into its existing
folder; if earlier instances cannot be found, the series is reported, not converted.
"""

from __future__ import annotations

import os
import tarfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nora_lab.archive.dicom import _archive as arc
from nora_lab.archive.dicom._group import Series, Study
from nora_lab.archive.dicom._instance import pixel_fingerprint
from nora_lab.archive.dicom._naming import Policy, series_names
from nora_lab.archive.dicom._scan import Instance, read_instance
from nora_lab.archive.dicom._sidecar import contains_identity, identity_strings
from nora_lab.archive.dicom._staging import Staging
from nora_lab.archive.dicom._work import Work, exact_folder
from nora_lab.archive.dicom.report import CONFLICT, ImportReport, SeriesReport

__all__ = ["Job", "plan", "direct_folders", "hide_strings"]


@dataclass
class Job:
    """One series to convert: its instances, names by policy, and its report."""

    study: Study
    series: Series
    instances: list[Instance]
    stem: str
    folder: str
    report: SeriesReport
    completing: str | None = None  # psid of the series being completed by new instances
    direct: str | None = None  # a source folder holding exactly this series
    known: frozenset[str] = frozenset()  # SOP UIDs recorded when planned (completing only)
    work: Work | None = None
    dicom_tar: Path | None = None


def plan(project: Any, studies: list[Study], policy: Policy, report: ImportReport,
         staging: Staging) -> tuple[list[Job], dict[int, tuple[str, str]]]:
    """Jobs for the series with new instances; reports for those already imported."""
    series_known = arc.known_series(project, (uid for st in studies for s in st.series
                                              for uid, _ in s.part_keys))
    jobs: list[Job] = []
    placed: dict[int, tuple[str, str]] = {}  # id(series) -> (psid, folder)
    pseudo = project.naming == "pseudonym"
    for study in studies:
        hide = hide_strings(study) if pseudo else ()
        for s in study.series:
            folder, stem = series_names(s, policy, hide=hide)
            rep = SeriesReport(psid="", series_folder=folder, series_uid=s.series_uid,
                               series_number=s.series_number, description=s.description,
                               instances=len(s.instances), notes=list(s.notes))
            if pseudo:
                rep.description = "" if contains_identity(rep.description, hide) else \
                    rep.description
            known = {sop: k for part in s.part_keys
                     for sop, k in series_known.get(part, {}).items()}
            old = [known[i.sop_uid] for i in s.instances if i.sop_uid in known]
            differ = [i for i in s.instances if i.sop_uid in known and known[i.sop_uid].pixels
                      and pixel_fingerprint(i) != known[i.sop_uid].pixels]
            if differ:
                _conflict(rep, old[0], differ, report)
                placed[id(s)] = (old[0].psid, old[0].series_folder)
                continue
            if len(old) == len(s.instances):
                rep.status, rep.psid, rep.series_folder = ("already imported", old[0].psid,
                                                           old[0].series_folder)
                placed[id(s)] = (old[0].psid, old[0].series_folder)
                report.series.append(rep)
                continue
            job = Job(study, s, list(s.instances), stem, folder, rep)
            if known:
                first = next(iter(known.values()))
                job.completing, job.folder = first.psid, first.series_folder
                job.known = frozenset(known)
                rep.psid, rep.series_folder = job.completing, job.folder
                missing = _add_previous(project, job, known, staging)
                if missing:
                    rep.problems.append(
                        f"{len(s.instances) - len(old)} new instance(s) for series already "
                        f"imported into {job.completing}/{job.folder}, but {missing} earlier "
                        "instance(s) are neither at their source path nor in the series' "
                        "dicom.tar.gz; import the complete series again (keep_dicom=True "
                        "lets a series be completed later)")
                    report.series.append(rep)
                    continue
                rep.notes.append(f"completing a series imported before: {len(known)} earlier "
                                 f"+ {len(s.instances) - len(old)} new instance(s)")
            jobs.append(job)
    jobs.sort(key=lambda j: -sum(i.size for i in j.instances))
    return jobs, placed


def _conflict(rep: SeriesReport, where: arc.Known, differ: list[Instance],
              report: ImportReport) -> None:
    """Report instances that arrived again with other pixel data (nothing is changed)."""
    rep.status, rep.psid, rep.series_folder = CONFLICT, where.psid, where.series_folder
    rep.problems.append(
        f"{len(differ)} of {rep.instances} instance(s) are in the archive under the same SOP "
        f"Instance UID with other pixel data (first: {differ[0].source}); the archived "
        f"version is kept: delete the series and import again to replace it")
    report.series.append(rep)
    report.warnings.append(f"CONFLICT: {where.psid}/{where.series_folder}: {len(differ)} "
                           "instance(s) arrived again with different pixel data (see the series)")


def direct_folders(jobs: list[Job], found: Any) -> None:
    """Let dcm2niix read a series' own folder when it holds that series and nothing else."""
    counts = found.instances_by_dir()
    read: dict[str, set[str]] = defaultdict(set)
    for p in found.read_paths:
        read[os.path.dirname(p)].add(p)
    for job in jobs:
        dirs = {os.path.dirname(i.path) for i in job.instances}
        if len(dirs) == 1 and not job.completing:
            d = dirs.pop()
            if (counts.get(d) == len(job.instances) and d not in found.unsafe_dirs
                    and exact_folder(d, read[d])):
                job.direct = d


def hide_strings(study: Study) -> tuple[str, ...]:
    return identity_strings(study.common("patient_name"), study.common("patient_id"),
                            study.common("birth_date"))


def _add_previous(project: Any, job: Job, known: dict[str, arc.Known],
                  staging: Staging) -> int:
    """Add the series' earlier instances to the job; return how many are unavailable."""
    have = {i.sop_uid for i in job.instances}
    wanted = {sop: k.source for sop, k in known.items() if sop not in have}
    for sop, src in list(wanted.items()):
        if src and os.path.isfile(src):
            inst = read_instance(src)
            if isinstance(inst, Instance) and inst.sop_uid == sop:
                job.instances.append(inst)
                del wanted[sop]
    tar = project.study_dir(job.completing) / job.folder / "dicom.tar.gz"
    if wanted and tar.is_file():
        dest = staging.work(f"previous-{id(job)}")
        with tarfile.open(tar, "r:gz") as tf:
            for member in tf.getmembers():
                sop = member.name.rsplit("/", 1)[-1].removesuffix(".dcm")
                if sop in wanted and member.isfile():
                    tf.extract(member, dest, filter="data")
                    inst = read_instance(str(dest / member.name), f"{tar}:{member.name}")
                    if isinstance(inst, Instance):
                        job.instances.append(inst)
                        del wanted[sop]
    return len(wanted)

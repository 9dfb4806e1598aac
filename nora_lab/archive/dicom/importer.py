"""``import_dicom``: DICOM from a folder, a zip, a PACS or a node into a NIfTI-first archive.

The pipeline, in one call:

1. **scan** the source, headers only, in parallel (:mod:`._scan`); non-DICOM, corrupt,
   truncated and pixel-less files are reported with their reason;
2. **group** by study and series UIDs and check each series' geometry (:mod:`._group`);
3. drop the instances the project already holds (``dicom_instances``): importing the
   same DICOMs again adds nothing;
4. **convert** each series with dcm2niix, series in parallel across the cores, check each
   output with nibabel, **compress** it with parallel gzip (:mod:`._convert`,
   :mod:`._compress`) — all inside a private work folder (:mod:`._staging`);
5. **commit** series by series: subject and study created on their first converted
   series, series folder chosen by the project's policy (:mod:`._naming`), each file
   moved in atomically by ``project.add_file`` with its extended sidecar as metadata,
   then the series' SOP instance UIDs recorded;
6. keep the requested non-DICOM files (``extrafiles_filter``), call the
   :data:`on_study_imported` hooks, and return an :class:`ImportReport`.

A crash or kill at any point leaves no half-written file under a real name; running the
same import again completes it (see :mod:`._staging`).
"""

from __future__ import annotations

import contextvars
import json
import os
import tarfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nora_lab.archive.dicom import _archive as arc
from nora_lab.archive.dicom._compress import ENGINE
from nora_lab.archive.dicom._convert import DCM2NIIX_ARGS, dcm2niix_path, dcm2niix_version
from nora_lab.archive.dicom._group import Series, Study, group
from nora_lab.archive.dicom._naming import (
    Policy,
    compile_pattern,
    pattern_override,
    series_names,
)
from nora_lab.archive.dicom._scan import Instance, read_instance, scan
from nora_lab.archive.dicom._sidecar import contains_identity, extend_sidecar
from nora_lab.archive.dicom._staging import Staging
from nora_lab.archive.dicom._work import (
    Work,
    convert_work,
    exact_folder,
    final_stem,
    speculate,
    tar_originals,
)
from nora_lab.archive.dicom.report import ImportReport, SeriesReport
from nora_lab.errors import NoraError, PermissionDenied

__all__ = ["import_dicom", "on_study_imported", "import_options", "load_policy"]

#: Called as ``hook(project, psid)`` for every study that received new files, after the
#: import committed them (the batch layer registers NORA's auto-exec here). A hook's
#: exception is reported in ``report.warnings``, never raised.
on_study_imported: list[Callable[[Any, str], Any]] = []

#: Options of the import in progress that hooks may read (None outside the CLI), e.g. the
#: CLI's ``{"autoexec_queue": "DEFAULT" | name | None, "handle_job_result": bool}``
#: (``--autoexec_queue`` absent: None — NORA's CLI then starts no auto-exec).
import_options: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "nora_import_options", default=None)


def load_policy(project: Any, **overrides: Any) -> Policy:
    """The project's DICOM import policy (``project.get_json("setting", "dicom_import")``)."""
    try:
        stored = project.get_json("setting", "dicom_import")
    except NoraError:
        stored = None
    return Policy.from_mapping(stored, **overrides)


@dataclass
class _Job:
    study: Study
    series: Series
    instances: list[Instance]
    stem: str
    folder: str
    report: SeriesReport
    completing: str | None = None  # psid of the series being completed by new instances
    direct: str | None = None  # a source folder holding exactly this series
    work: Work | None = None
    dicom_tar: Path | None = None


class _Speculation:
    """Conversions started on whole source folders while the scan still runs."""

    def __init__(self, project: Any, pool: ThreadPoolExecutor, staging: Staging,
                 policy: Policy, pseudo: bool):
        self.project, self.pool, self.staging = project, pool, staging
        self.policy, self.pseudo = policy, pseudo
        self.futures: dict[str, Future[Work | None]] = {}
        self.cancelled: dict[str, threading.Event] = {}

    def _is_known(self, sop_uid: str) -> bool:
        return bool(arc.known_instances(self.project, [sop_uid]))

    def start(self, files: list[tuple[str, str]]) -> None:
        by_dir: dict[str, list[str]] = defaultdict(list)
        for path, _ in files:
            by_dir[os.path.dirname(path)].append(path)
        for n, (folder, paths) in enumerate(by_dir.items()):
            work = self.staging.path / f"spec{n:05d}"
            self.cancelled[folder] = threading.Event()
            self.futures[folder] = self.pool.submit(
                speculate, work, folder, paths, level=self.policy.compresslevel,
                pseudo=self.pseudo, timeout=self.policy.dcm2niix_timeout,
                is_known=self._is_known, cancelled=self.cancelled[folder])

    def take(self, folder: str | None) -> Future[Work | None] | None:
        return self.futures.pop(folder, None) if folder else None

    def drop_the_rest(self) -> None:
        """Cancel the speculations no series took (a running dcm2niix finishes unused)."""
        for folder, fut in self.futures.items():
            self.cancelled[folder].set()
            fut.cancel()
        self.futures.clear()


def import_dicom(project: Any, source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
                 *, patients_id: str | None = None, studies_id: str | None = None,
                 pattern: str | None = None, extrafiles_filter: str | Sequence[str] | None = None,
                 keep_dicom: bool | None = None, progress: bool = True,
                 workers: int | None = None) -> ImportReport:
    """Import DICOM into a project: convert each series to NIfTI and file it.

    Parameters
    ----------
    project
        A :class:`~nora_lab.archive.project.Project` the user may edit.
    source
        A folder (searched recursively), a ``.zip``, one file, or a list of files and
        folders (what the PACS node and the REST upload hand over).
    patients_id, studies_id
        Override the subject / study id of everything imported (NORA's ``--patients_id``
        / ``--studies_id``).
    pattern
        A regular expression searched in each file's source folder whose named groups
        ``patients_id`` / ``studies_id`` override the ids; NORA's ``(?<name>…)`` syntax
        is accepted, e.g. ``r"(?<studies_id>[\\w\\-]+)/(?<patients_id>\\w+)$"``.
    extrafiles_filter
        Non-DICOM files to keep, by extension: ``"nii,hdr,img"`` or a list.
    keep_dicom
        Keep each series' original DICOMs as ``<series folder>/dicom.tar.gz`` (None: the
        project's policy, default no).
    progress
        Show tqdm progress bars.
    workers
        Series converted at once and processes scanning headers (default: all cores).

    Returns
    -------
    ImportReport
        Series converted or not and why, files skipped and why; ``print`` it or call
        ``.to_frame()``.

    Raises
    ------
    PermissionDenied
        If the user may not edit the project.
    DicomImportError
        If the source does not exist or cannot be read, or dcm2niix is missing.
    ConfigError
        If ``pattern`` or the project's policy is malformed.

    Examples
    --------
    >>> report = import_dicom(proj, "/data/incoming/study.zip")   # doctest: +SKIP
    >>> print(report)                                              # doctest: +SKIP
    """
    t_start = time.perf_counter()
    if getattr(project, "role", "admin") not in ("editor", "admin"):
        raise PermissionDenied(f"importing DICOM into project {project.name!r} needs the "
                               f"editor role; user {project.archive.user!r} is {project.role}")
    dcm2niix_path()
    if not isinstance(source, (str, os.PathLike)):
        source = [os.fspath(s) for s in source]
    policy = load_policy(project, keep_dicom=keep_dicom)
    rx = compile_pattern(pattern)
    exts = _parse_filter(extrafiles_filter)
    workers = max(1, int(workers or os.cpu_count() or 1))
    label = _label(source)
    report = ImportReport(project.name, label)
    bar = _bar(progress, "scan", "file")
    pseudo = project.naming == "pseudonym"
    with Staging(project.root) as staging, \
            ThreadPoolExecutor(workers, thread_name_prefix="nora-dcm2niix") as pool:
        if staging.swept:
            report.warnings.append(f"removed {len(staging.swept)} work folder(s) of an "
                                   "interrupted earlier import")
        spec = _Speculation(project, pool, staging, policy, pseudo)
        t0 = time.perf_counter()
        try:
            found = scan(source, staging=staging.path, workers=workers, progress=bar,
                         on_files=spec.start)
        except BaseException:
            spec.drop_the_rest()
            raise
        _close(bar)
        report.timings["scan"] = time.perf_counter() - t0
        report.skipped.extend(found.skipped)
        studies = group(found.instances, pattern_override(rx, patients_id, studies_id))
        jobs, placed = _plan(project, studies, policy, report, staging)
        _direct_folders(jobs, found)
        t0 = time.perf_counter()
        targets: dict[int, arc.StudyTarget] = {}
        try:
            _run(project, jobs, policy, staging, report, targets, placed, pool, spec,
                 progress)
        finally:
            spec.drop_the_rest()
        report.timings["convert+commit"] = time.perf_counter() - t0
        if exts:
            _keep_extras(project, found.others, exts, studies, targets, placed, report,
                         staging)
    report.series.sort(key=lambda s: (s.psid, s.series_number or 0, s.series_folder))
    for psid in report.studies:
        for hook in list(on_study_imported):
            try:
                hook(project, psid)
            except Exception as exc:  # noqa: BLE001 - a hook never breaks an import
                report.warnings.append(f"on_study_imported hook {hook!r} failed for "
                                       f"{psid}: {type(exc).__name__}: {exc}")
    report.seconds = time.perf_counter() - t_start
    return report


# --- planning -------------------------------------------------------------------------


def _plan(project: Any, studies: list[Study], policy: Policy, report: ImportReport,
          staging: Staging) -> tuple[list[_Job], dict[int, tuple[str, str]]]:
    """Jobs for the series with new instances; reports for those already imported."""
    series_known = arc.known_series(project, (s.series_uid for st in studies
                                              for s in st.series))
    jobs: list[_Job] = []
    placed: dict[int, tuple[str, str]] = {}  # id(series) -> (psid, folder)
    pseudo = project.naming == "pseudonym"
    for study in studies:
        hide = _hide(study) if pseudo else ()
        for s in study.series:
            folder, stem = series_names(s, policy, hide=hide)
            rep = SeriesReport(psid="", series_folder=folder, series_uid=s.series_uid,
                               series_number=s.series_number, description=s.description,
                               instances=len(s.instances), notes=list(s.notes))
            if pseudo:
                rep.description = "" if contains_identity(rep.description, hide) else \
                    rep.description
            known = series_known.get((s.series_uid, s.series_number), {})
            old = [known[i.sop_uid] for i in s.instances if i.sop_uid in known]
            if len(old) == len(s.instances):
                rep.status, rep.psid, rep.series_folder = ("already imported", old[0].psid,
                                                           old[0].series_folder)
                placed[id(s)] = (old[0].psid, old[0].series_folder)
                report.series.append(rep)
                continue
            job = _Job(study, s, list(s.instances), stem, folder, rep)
            if known:
                first = next(iter(known.values()))
                job.completing, job.folder = first.psid, first.series_folder
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


def _direct_folders(jobs: list[_Job], found: Any) -> None:
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


def _hide(study: Study) -> tuple[str, ...]:
    from nora_lab.archive.dicom._sidecar import identity_strings

    return identity_strings(study.common("patient_name"), study.common("patient_id"),
                            study.common("birth_date"))


def _add_previous(project: Any, job: _Job, known: dict[str, arc.Known],
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


# --- conversion and commit -------------------------------------------------------------


def _run(project: Any, jobs: list[_Job], policy: Policy, staging: Staging,
         report: ImportReport, targets: dict[int, arc.StudyTarget],
         placed: dict[int, tuple[str, str]], pool: ThreadPoolExecutor, spec: _Speculation,
         progress: bool) -> None:
    """Convert every job (speculative results first), commit each as it completes."""
    if not jobs:
        return
    bar = _bar(progress, "convert", "img", total=sum(len(j.instances) for j in jobs))
    pseudo = project.naming == "pseudonym"
    pending: dict[Future, _Job] = {}

    def submit(n: int, job: _Job) -> None:
        work = staging.path / f"series{n:05d}"
        pending[pool.submit(convert_work, work, job.instances, job.direct,
                            level=policy.compresslevel, pseudo=pseudo,
                            timeout=policy.dcm2niix_timeout)] = job

    for n, job in enumerate(jobs):
        fut = spec.take(job.direct)
        if fut is not None:
            pending[fut] = job
        else:
            submit(n, job)
    spec.drop_the_rest()
    while pending:
        finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
        for fut in finished:
            job = pending.pop(fut)
            work = fut.result()
            if work is None:  # the speculation declined: convert from the instances
                submit(jobs.index(job), job)
                continue
            job.work = work
            _finish(project, job, policy, staging, report, targets, placed)
            if bar is not None:
                bar.update(len(job.instances))
    _close(bar)


def _finish(project: Any, job: _Job, policy: Policy, staging: Staging, report: ImportReport,
            targets: dict[int, arc.StudyTarget], placed: dict[int, tuple[str, str]]) -> None:
    work, rep = job.work, job.report
    assert work is not None
    if work.conv is not None:
        rep.messages.extend(m.replace(" as img", f" as {job.stem}") for m in work.conv.messages)
    rep.problems.extend(work.problems)
    rep.seconds = work.seconds
    if policy.keep_dicom and work.gz:
        job.dicom_tar = tar_originals(job.instances, staging.path / f"tar-{id(job)}.tar.gz",
                                      policy.compresslevel)
    t0 = time.perf_counter()
    try:
        _commit(project, job, policy, staging, report, targets, placed)
    except NoraError as exc:
        rep.status = "failed"
        rep.problems.append(f"could not enter the archive: {exc}")
    _add_time(report, "commit", time.perf_counter() - t0)
    _add_time(report, "dcm2niix (sum)", work.conv.seconds if work.conv else 0.0)
    _add_time(report, "gzip (sum)", work.gzip_s)
    if work.speculative:
        _add_time(report, "speculated (series)", 1)
    report.series.append(rep)


def _commit(project: Any, job: _Job, policy: Policy, staging: Staging,
            report: ImportReport, targets: dict[int, arc.StudyTarget],
            placed: dict[int, tuple[str, str]]) -> None:
    rep, done = job.report, job.work
    assert done is not None
    if not done.gz:
        rep.status = "failed"
        return
    if job.completing:
        psid, folder, overwrite = job.completing, job.folder, True
        hide = _hide(job.study) if project.naming == "pseudonym" else ()
    else:
        target = targets.get(id(job.study))
        if target is None:
            target = targets[id(job.study)] = arc.resolve_study(project, job.study)
        psid, hide, overwrite = target.psid, target.hide, False
        folder = arc.pick_folder(target, job.series, job.folder)
    rep.psid, rep.series_folder = psid, folder
    pseudo = project.naming == "pseudonym"
    study_dir = project.study_dir(psid)
    with staging.commit_lock():
        arc.sweep_tmp(study_dir / folder)
        for o in done.conv.outputs if done.conv else []:
            gz = done.gz.get(o.stem)
            if gz is None:
                continue
            raw = json.loads(o.sidecars[".json"].read_text()) if ".json" in o.sidecars else {}
            meta = extend_sidecar(
                raw, uids={"StudyInstanceUID": job.series.study_uid,
                           "SeriesInstanceUID": job.series.series_uid},
                pseudonymized=pseudo, hide=hide,
                nora={"project": project.name, "psid": psid, "subject": psid.split("#")[0],
                      "study": psid.split("#")[1], "series_folder": folder,
                      "SeriesNumber": job.series.series_number,
                      "instances": len(job.instances),
                      "converter": f"dcm2niix {dcm2niix_version()}",
                      "converter_flags": " ".join(DCM2NIIX_ARGS),
                      "philips_scaling": "precise floating point (dcm2niix -p y)",
                      "compression": f"gzip level {policy.compresslevel} "
                                     f"({ENGINE}, parallel blocks)"})
            rel = f"{folder}/{final_stem(o.stem, job.stem)}"
            project.add_file(gz, psid, rel + ".nii.gz", meta=meta, move=True,
                             overwrite=overwrite)
            rep.files.append(rel + ".nii.gz")
            project.add_bytes(arc.dump_json(meta), psid, rel + ".json", meta=meta,
                              overwrite=overwrite)
            rep.files.append(rel + ".json")
            for ext in (".bval", ".bvec"):
                if ext in o.sidecars:
                    project.add_file(o.sidecars[ext], psid, rel + ext, move=True,
                                     overwrite=overwrite)
                    rep.files.append(rel + ext)
        if job.dicom_tar is not None:
            project.add_file(job.dicom_tar, psid, f"{folder}/dicom.tar.gz", move=True,
                             overwrite=True)
            rep.files.append(f"{folder}/dicom.tar.gz")
        arc.record_instances(project, psid, job.series, folder, job.instances)
    rep.status = "partial" if rep.problems else "converted"
    placed[id(job.series)] = (psid, folder)
    if psid not in report.studies:
        report.studies.append(psid)


# --- extra files -----------------------------------------------------------------------


def _parse_filter(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    if not spec:
        return ()
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    return tuple("." + e.strip().lower().lstrip(".") for e in items if e.strip())


def _keep_extras(project: Any, others: list[tuple[str, str]], exts: tuple[str, ...],
                 studies: list[Study], targets: dict[int, arc.StudyTarget],
                 placed: dict[int, tuple[str, str]], report: ImportReport,
                 staging: Staging) -> None:
    """Add the non-DICOM files whose extension is in ``exts`` to their study.

    A file in the folder of exactly one series goes into that series' folder; otherwise
    into the study whose files share its folder, at its path relative to the study's
    common folder. Files that fit no single study are reported, not added.
    """
    series_dirs: dict[str, list[Series]] = {}
    study_roots: list[tuple[str, Study]] = []
    for st in studies:
        dirs = set()
        for s in st.series:
            sdirs = {os.path.dirname(i.path) for i in s.instances}
            dirs |= sdirs
            if len(sdirs) == 1:
                series_dirs.setdefault(sdirs.pop(), []).append(s)
        study_roots.append((os.path.commonpath(sorted(dirs)) if dirs else "", st))
    kept = set()
    for path, source in others:
        if not path.lower().endswith(exts):
            continue
        d = os.path.dirname(path)
        where: tuple[str, str] | None = None
        if len(series_dirs.get(d, [])) == 1 and id(series_dirs[d][0]) in placed:
            psid, folder = placed[id(series_dirs[d][0])]
            where = (psid, f"{folder}/{os.path.basename(path)}")
        else:
            owners = [(root, st) for root, st in study_roots
                      if root and (d == root or d.startswith(root + os.sep))]
            if not owners and len(studies) == 1:
                owners = [(d, studies[0])]
            owners = [o for o in owners if any(id(s) in placed for s in o[1].series)]
            if owners:
                root, st = max(owners, key=lambda o: len(o[0]))
                psid = next(placed[id(s)][0] for s in st.series if id(s) in placed)
                rel = os.path.relpath(path, root).replace(os.sep, "/")
                where = (psid, rel)
        if where is None:
            report.warnings.append(f"extra file {source} belongs to no single imported "
                                   "study; not added")
            continue
        psid, rel = where
        if project.naming == "pseudonym":
            hide = next((t.hide for t in targets.values() if t.psid == psid), ())
            if contains_identity(rel, hide):
                report.warnings.append(f"extra file {source}: its name holds identifying "
                                       "text; not added to a pseudonymized project")
                continue
        from nora_lab.archive.dicom._naming import folder_safe

        rel = "/".join(folder_safe(p, "file") for p in rel.split("/"))
        try:
            project.add_file(path, psid, rel, overwrite=False)
        except NoraError as exc:
            report.warnings.append(f"extra file {source}: {exc}")
            continue
        report.extras.append(f"{psid}/{rel}")
        kept.add(source)
        if psid not in report.studies:
            report.studies.append(psid)
    report.skipped[:] = [k for k in report.skipped if k.path not in kept]


# --- helpers ---------------------------------------------------------------------------


def _label(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return f"{len(source)} paths" if len(source) != 1 else str(source[0])


def _bar(progress: bool, desc: str, unit: str, total: int | None = None) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False)


def _add_time(report: ImportReport, key: str, seconds: float) -> None:
    report.timings[key] = report.timings.get(key, 0.0) + seconds


def _close(bar: Any) -> None:
    if bar is not None:
        bar.close()

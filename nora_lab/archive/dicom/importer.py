"""``import_dicom``: DICOM from a folder, a zip, a PACS or a node into a NIfTI-first archive.

The pipeline, in one call:

1. **scan** the source, headers only, in parallel (:mod:`._scan`); non-DICOM, corrupt,
   truncated and pixel-less files are reported with their reason;
2. **group** by study and series UIDs and check each series' geometry (:mod:`._group`);
3. drop the instances the project already holds (``dicom_instances``): importing the
   same DICOMs again adds nothing; complete series that arrive in parts (:mod:`._plan`);
4. **convert** each series with dcm2niix, series in parallel across the cores, check each
   output with nibabel, **compress** it with parallel gzip (:mod:`._work`,
   :mod:`._convert`, :mod:`._compress`) — all inside a private work folder
   (:mod:`._staging`). Source folders that look like one whole series are handed to
   dcm2niix while their headers are still being scanned, and used if the scan agrees;
5. **commit** series by series: subject and study created on their first converted
   series, series folder chosen by the project's policy (:mod:`._naming`), each file
   moved in atomically by ``project.add_file`` with its extended sidecar as metadata,
   then the series' SOP instance UIDs recorded;
6. keep the requested non-DICOM files (``extrafiles_filter``, :mod:`._extras`), call the
   :data:`study_imported_hooks`, and return an :class:`ImportReport`.

A crash or kill at any point leaves no half-written file under a real name; running the
same import again completes it (see :mod:`._staging`).
"""

from __future__ import annotations

import contextvars
import functools
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from nora_lab._lazy import deprecated_names
from nora_lab.archive._files import NewFile
from nora_lab.archive.dicom import _archive as arc
from nora_lab.archive.dicom._compress import ENGINE
from nora_lab.archive.dicom._convert import DCM2NIIX_ARGS, dcm2niix_path, dcm2niix_version
from nora_lab.archive.dicom._extras import keep_extras, parse_filter
from nora_lab.archive.dicom._group import group
from nora_lab.archive.dicom._instance import pixel_fingerprint
from nora_lab.archive.dicom._naming import (
    Policy,
    compile_pattern,
    pattern_override,
)
from nora_lab.archive.dicom._plan import Job, direct_folders, hide_strings, plan
from nora_lab.archive.dicom._scan import scan
from nora_lab.archive.dicom._sidecar import extend_sidecar
from nora_lab.archive.dicom._staging import Staging
from nora_lab.archive.dicom._work import Speculation, convert_work, final_stem, tar_originals
from nora_lab.archive.dicom.report import MEANWHILE, ImportReport
from nora_lab.errors import NoraError, PermissionDenied

__all__ = ["import_dicom", "study_imported_hooks", "import_options", "load_policy"]

#: Hooks called as ``hook(project, psid)`` for every study that received new files, after
#: the import committed them; append yours. A hook's exception is reported in
#: ``report.warnings``, never raised. Installed packages add hooks through the
#: entry-point group ``nora_lab.study_imported`` (the batch layer registers NORA's
#: auto-exec there, so the archive never imports the layers above it).
study_imported_hooks: list[Callable[[Any, str], Any]] = []

HOOK_GROUP = "nora_lab.study_imported"

#: ``on_study_imported``: the list's name before 0.2 (the batch layer's hook bears it)
__getattr__ = deprecated_names(__name__, {"on_study_imported": ":study_imported_hooks"})


def _hooks_to_call() -> list[Callable[[Any, str], Any]]:
    """:data:`study_imported_hooks` plus the hooks installed packages declare, each once."""
    hooks = list(study_imported_hooks)
    for fn in _installed_hooks():
        if fn not in hooks:
            hooks.append(fn)
    return hooks


@functools.cache
def _installed_hooks() -> tuple[Callable[[Any, str], Any], ...]:
    """The entry-point hooks (looked up once a process: reading every package's metadata
    costs 20 ms)."""
    from importlib.metadata import entry_points

    return tuple(ep.load() for ep in entry_points(group=HOOK_GROUP))


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
    role = getattr(project, "role", None)  # fails closed: no role, no import
    if role not in ("editor", "admin"):
        user = getattr(getattr(project, "archive", None), "user", "?")
        raise PermissionDenied(f"importing DICOM into project {project.name!r} needs the "
                               f"editor role; user {user!r} is {role or 'no member'}")
    dcm2niix_path()
    if not isinstance(source, (str, os.PathLike)):
        source = [os.fspath(s) for s in source]
    policy = load_policy(project, keep_dicom=keep_dicom)
    rx = compile_pattern(pattern)
    exts = parse_filter(extrafiles_filter)
    workers = max(1, int(workers or os.cpu_count() or 1))
    report = ImportReport(project.name, _label(source))
    bar = _bar(progress, "scan", "file")
    pseudo = project.naming == "pseudonym"
    with Staging(project.root) as staging, \
            ThreadPoolExecutor(2 * workers, thread_name_prefix="nora-dcm2niix") as pool:
        if staging.swept:
            report.warnings.append(f"removed {len(staging.swept)} work folder(s) of an "
                                   "interrupted earlier import")
        spec = Speculation(project, pool, staging, policy, pseudo)
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
        jobs, placed = plan(project, studies, policy, report, staging)
        direct_folders(jobs, found)
        run = _ImportRun(project, policy, staging, report, pool, spec, progress, placed)
        t0 = time.perf_counter()
        try:
            run.convert_and_commit(jobs)
        finally:
            spec.drop_the_rest()
        report.timings["convert+commit"] = time.perf_counter() - t0
        run.drop_lost_studies()
        if exts:
            keep_extras(project, found.others, exts, studies, run.targets, run.placed, report)
    report.series.sort(key=lambda s: (s.psid, s.series_number or 0, s.series_folder))
    _call_hooks(project, report)
    report.seconds = time.perf_counter() - t_start
    return report


def _call_hooks(project: Any, report: ImportReport) -> None:
    """Every study-imported hook, once per study that received files; failures warned."""
    hooks = _hooks_to_call() if report.studies else []
    for psid in report.studies:
        for hook in hooks:
            try:
                hook(project, psid)
            except Exception as exc:  # noqa: BLE001 - a hook never breaks an import
                report.warnings.append(f"study-imported hook {hook!r} failed for "
                                       f"{psid}: {type(exc).__name__}: {exc}")


# --- conversion and commit -------------------------------------------------------------


@dataclass
class _ImportRun:
    """One :func:`import_dicom` call past planning: what converting and committing the
    series read (project, policy, work folder, pool) and fill in (report, study targets,
    where each series was placed)."""

    project: Any
    policy: Policy
    staging: Staging
    report: ImportReport
    pool: ThreadPoolExecutor
    spec: Speculation
    progress: bool
    #: id(source series) -> (psid, series folder) it was filed in (or found in)
    placed: dict[int, tuple[str, str]]
    #: id(source study) -> the archive study it is filed in
    targets: dict[int, arc.StudyTarget] = field(default_factory=dict)

    @property
    def pseudo(self) -> bool:
        return bool(self.project.naming == "pseudonym")

    def convert_and_commit(self, jobs: list[Job]) -> None:
        """Convert every job (speculative results first), commit each as it completes."""
        if not jobs:
            return
        bar = _bar(self.progress, "convert", "img", total=sum(len(j.instances) for j in jobs))
        pending: dict[Future, Job] = {}

        def submit(n: int, job: Job) -> None:
            work = self.staging.path / f"series{n:05d}"
            pending[self.pool.submit(convert_work, work, job.instances, job.direct,
                                     level=self.policy.compresslevel, pseudo=self.pseudo,
                                     timeout=self.policy.dcm2niix_timeout)] = job

        for n, job in enumerate(jobs):
            fut = self.spec.take(job.direct)
            if fut is not None:
                pending[fut] = job
            else:
                submit(n, job)
        self.spec.drop_the_rest()
        while pending:
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in finished:
                job = pending.pop(fut)
                work = fut.result()
                if work is None:  # the speculation declined: convert from the instances
                    submit(jobs.index(job), job)
                    continue
                job.work = work
                self.finish(job)
                if bar is not None:
                    bar.update(len(job.instances))
        _close(bar)

    def finish(self, job: Job) -> None:
        """Report a converted job and commit it; a lost race or a refusal is reported."""
        work, rep, report = job.work, job.report, self.report
        assert work is not None
        if work.conv is not None:
            rep.messages.extend(m.replace(" as img", f" as {job.stem}")
                                for m in work.conv.messages)
        rep.problems.extend(work.problems)
        rep.seconds = work.seconds
        if self.policy.keep_dicom and work.gz:
            job.dicom_tar = tar_originals(job.instances,
                                          self.staging.path / f"tar-{id(job)}.tar.gz",
                                          self.policy.compresslevel)
        t0 = time.perf_counter()
        try:
            self.commit(job)
        except arc.ImportedMeanwhile as exc:
            k = next(iter(exc.where.values()))
            rep.status, rep.psid, rep.series_folder = MEANWHILE, k.psid, k.series_folder
            rep.notes.append(f"{exc}; nothing filed twice")
            self.placed[id(job.series)] = (k.psid, k.series_folder)
        except sa.exc.IntegrityError:
            rep.status = MEANWHILE
            rep.notes.append("another import filed this series at the same moment (the "
                             "database refused a second copy); nothing filed twice")
        except NoraError as exc:
            rep.status = "failed"
            rep.problems.append(f"could not enter the archive: {exc}")
        _add_time(report, "commit", time.perf_counter() - t0)
        _add_time(report, "dcm2niix (sum)", work.conv.seconds if work.conv else 0.0)
        _add_time(report, "gzip (sum)", work.gzip_s)
        if work.speculative:
            _add_time(report, "speculated (series)", 1)
        report.series.append(rep)

    def _target(self, job: Job) -> tuple[str, str, tuple[str, ...], bool]:
        """(psid, series folder, strings to hide, overwrite) of the job's series."""
        if job.completing:
            hide = hide_strings(job.study) if self.pseudo else ()
            return job.completing, job.folder, hide, True
        target = self.targets.get(id(job.study))
        if target is None:
            target = arc.resolve_study(self.project, job.study)
            # two source studies filed into one (ids overridden): share the folder map
            target = next((t for t in self.targets.values() if t.psid == target.psid),
                          target)
            self.targets[id(job.study)] = target
        return target.psid, arc.pick_folder(target, job.series, job.folder), target.hide, False

    def _files(self, job: Job, psid: str, folder: str, hide: tuple[str, ...]
               ) -> list[NewFile]:
        """The NIfTIs, sidecars (with nora_lab's keys) and originals of a converted job."""
        done, project = job.work, self.project
        assert done is not None
        files: list[NewFile] = []
        for o in done.conv.outputs if done.conv else []:
            gz = done.gz.get(o.stem)
            if gz is None:
                continue
            raw = json.loads(o.sidecars[".json"].read_text()) if ".json" in o.sidecars else {}
            meta = extend_sidecar(
                raw, uids={"StudyInstanceUID": job.series.study_uid,
                           "SeriesInstanceUID": job.series.series_uid},
                pseudonymized=self.pseudo, hide=hide,
                nora={"project": project.name, "psid": psid, "subject": psid.split("#")[0],
                      "study": psid.split("#")[1], "series_folder": folder,
                      "SeriesNumber": job.series.series_number,
                      **_merged(job.series),
                      "instances": len(job.instances),
                      "converter": f"dcm2niix {dcm2niix_version()}",
                      "converter_flags": " ".join(DCM2NIIX_ARGS),
                      "philips_scaling": "precise floating point (dcm2niix -p y)",
                      "compression": f"gzip level {self.policy.compresslevel} "
                                     f"({ENGINE}, parallel blocks)"})
            rel = f"{folder}/{final_stem(o.stem, job.stem)}"
            files.append(NewFile(rel + ".nii.gz", src=gz, meta=meta, move=True))
            files.append(NewFile(rel + ".json", data=arc.dump_json(meta), meta=meta))
            files += [NewFile(rel + ext, src=o.sidecars[ext], move=True)
                      for ext in (".bval", ".bvec") if ext in o.sidecars]
        if job.dicom_tar is not None:
            files.append(NewFile(f"{folder}/dicom.tar.gz", src=job.dicom_tar, move=True))
        return files

    def commit(self, job: Job) -> None:
        """File a converted job: files, rows and the series' instances in one transaction."""
        rep, project = job.report, self.project
        assert job.work is not None
        if not job.work.gz:
            rep.status = "failed"
            return
        psid, folder, hide, overwrite = self._target(job)
        rep.psid, rep.series_folder = psid, folder
        files = self._files(job, psid, folder, hide)
        pixels = {i.sop_uid: pixel_fingerprint(i) for i in job.instances
                  if i.sop_uid not in job.known}

        def record(conn: Any, study_pk: int) -> None:
            arc.record_new_instances(conn, project, study_pk, job.series, folder,
                                     job.instances, job.known, pixels)

        with self.staging.commit_lock():
            if not job.completing and arc._study_or_none(project, psid) is None:
                arc.resolve_study(project, job.study)  # dropped by an import that lost a race
            arc.sweep_tmp(project.study_dir(psid) / folder)
            project._add_files(psid, files, overwrite=overwrite, then=record)
        rep.files.extend(f.relpath for f in files)
        rep.status = "partial" if rep.problems else "converted"
        self.placed[id(job.series)] = (psid, folder)
        if psid not in self.report.studies:
            self.report.studies.append(psid)

    def drop_lost_studies(self) -> None:
        """Studies this import created for series that another import filed meanwhile."""
        lost = {t.psid for t in self.targets.values() if t.created} - set(self.report.studies)
        if not lost:
            return
        with self.staging.commit_lock():
            for psid in sorted(lost):
                if arc.drop_if_empty(self.project, psid):
                    self.report.warnings.append(f"removed study {psid}, created for series "
                                                "that another import filed meanwhile")


# --- helpers ---------------------------------------------------------------------------


def _merged(series: Any) -> dict[str, Any]:
    """``merged_series``: the (UID, number) of each series merged into this one, if any."""
    if not series.parts:
        return {}
    return {"merged_series": [{"SeriesInstanceUID": uid, "SeriesNumber": number}
                              for uid, number in series.parts]}


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

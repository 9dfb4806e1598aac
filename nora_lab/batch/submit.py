"""Launch a batch over studies: one Dask task per study (or subject), and a dry run.

>>> run = launch(batch, proj, filters={"subject": "JOB:e"})       # doctest: +SKIP
>>> print(dry_run(batch, proj, backend="slurm"))                  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from nora_lab import config as nora_config
from nora_lab.archive import job_states as states
from nora_lab.batch import backends
from nora_lab.batch.batch import Batch
from nora_lab.batch.commands import render
from nora_lab.batch.config import settings
from nora_lab.batch.resolve import Unit, pending_outputs, resolve_step, units_for
from nora_lab.batch.run import BatchRun
from nora_lab.batch.runner import StepSpec, UnitTask, run_unit
from nora_lab.errors import BatchError, NoraError

if TYPE_CHECKING:
    from nora_lab.archive import Project

__all__ = ["launch", "dry_run", "DryRun", "as_batch", "log_folder"]


def as_batch(batch: Batch | Mapping[str, Any] | str, project: Project | None = None) -> Batch:
    """A :class:`Batch` from a Batch, its dict, JSON text, or the name of a saved batch."""
    if isinstance(batch, Batch):
        return batch
    if isinstance(batch, Mapping):
        return Batch.from_dict(batch)
    text = str(batch).strip()
    if text.startswith("{"):
        return Batch.from_json(text)
    if project is None:
        raise BatchError(f"batch {text!r}: a saved batch needs its project")
    return Batch.load(project, text)


def log_folder(cfg: Mapping[str, Any], project: Project, batch: str) -> Path:
    """``<log-root>/<project>/<batch>`` (default log root: ``<storage root>/.nora/logs``)."""
    root = Path(cfg["log-root"]) if cfg.get("log-root") else states.log_root(project.archive)
    return root / project.name / batch


def _selection(batch: Batch, studies: Any, filters: Any) -> tuple[Any, Any]:
    if studies is None and filters is None and batch.selection:
        return batch.selection.get("studies"), batch.selection.get("filters")
    return studies, filters


def _steps(batch: Batch) -> list[StepSpec]:
    """Typed jobs for the workers: callables pickled (by value where not importable)."""
    import cloudpickle

    out = []
    for i, job in enumerate(batch.jobs, 1):
        func = None
        if job.type == "builtin":
            func = cloudpickle.dumps(job.registered().func)
            job = replace(job, func=None, registered_name=job.registered_name or job.label)
        elif job.type == "notebook":
            nb = Path(job.notebook_path or "").expanduser().resolve()
            if not nb.is_file():
                raise BatchError(f"batch {batch.name!r}, job {i} ({job.label}): notebook {nb} "
                                 "does not exist")
            job = replace(job, notebook_path=str(nb))
        out.append(StepSpec(i, job, func))
    return out


def _db_url(project: Project) -> str:
    return project.archive.engine.url.render_as_string(hide_password=False)


def launch(batch: Batch | Mapping[str, Any] | str, project: Project, studies: Any = None, *,
           filters: Mapping[str, str] | str | None = None, backend: str | None = None,
           cluster: Any = None, client: Any = None, wait: bool = False, progress: bool = True,
           **options: Any) -> BatchRun:
    """Run a batch for every selected study (or subject), one Dask task each.

    Parameters
    ----------
    batch
        A :class:`Batch`, its JSON form, or the name of a batch saved in the project.
    project
        The project (its user needs the editor role).
    studies
        PSIDs (subject ids for subject-level batches) or a DataFrame from
        ``project.studies()``; default: those matching ``filters``, else the batch's
        ``selection``, else all.
    filters
        Filter bars, e.g. ``{"subject": "JOB:e"}`` to rerun the erroneous subgroup.
    backend
        ``"local"``, ``"slurm"`` or ``"sge"`` (default: the settings').
    cluster, client
        Run on an existing Dask cluster or client instead of starting one.
    wait, progress
        Block until done (with a progress bar).
    **options
        Settings overrides (see :mod:`nora_lab.batch.config`), e.g. ``memory="4GB"``,
        ``n_workers=2``, ``max_attempts=2``.

    Returns
    -------
    BatchRun

    Raises
    ------
    BatchError
        For a malformed batch (nothing is queued then), an empty selection, or units
        of this batch still queued or running.
    """
    cfg = settings(backend=backend, **options)
    b = as_batch(batch, project)
    typed = b.validate()
    studies, filters = _selection(b, studies, filters)
    units = units_for(project, typed.level, studies, filters)
    steps = _steps(typed)
    states.reap(project)
    run_id = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
    folder = log_folder(cfg, project, b.name)
    logs = [str(folder / f"{u.log_stem}.log") for u in units]
    ids = states.create(project, run_id, b.name, typed.level, [u.key for u in units],
                        spec={"jobs": len(steps)}, logs=logs)
    owns_client = owns_cluster = False
    try:
        if client is None:
            from distributed import Client

            if cluster is None:
                cluster = backends.make_cluster(cfg, n_units=len(units), resources=b.resources,
                                                log_directory=folder.parent / "_dask")
                owns_cluster = True
            client = Client(cluster, set_as_default=False)
            owns_client = True
        common: dict[str, Any] = {
                  "run": run_id, "batch": b.name, "steps": steps, "db_url": _db_url(project),
                  "root": str(project.archive.root), "user": project.archive.user,
                  "project": project.name, "home": str(nora_config.nora_home()),
                  "sys_path": [p for p in sys.path if p], "poll": float(cfg["poll-interval"]),
                  "max_attempts": int(cfg["max-attempts"]), "grace": float(cfg["kill-grace"])}
        tasks = [UnitTask(job_id=i, unit=u, log=log, **common)
                 for i, u, log in zip(ids, units, logs, strict=True)]
        futures = client.map(run_unit, tasks, key=[f"nora-{b.name}-{run_id}-{i}" for i in ids],
                             pure=False, retries=max(0, int(cfg["max-attempts"]) - 1))
    except BaseException as exc:
        states.fail_active(project, f"the launch failed: {type(exc).__name__}: {exc}", run=run_id)
        if owns_client and client is not None:
            client.close()
        if owns_cluster and cluster is not None:
            cluster.close()
        raise
    run = BatchRun(typed, project, run_id, units, ids, logs, client=client, cluster=cluster,
                   owns_client=owns_client, owns_cluster=owns_cluster, futures=futures)
    run._start()
    if wait:
        run.wait(progress=progress)
    return run


@dataclass
class DryRun:
    """What a launch would do: the resolved command of every job of every unit.

    ``commands`` has one row per unit and job (``unit, job, command, error``); an error
    is what that unit would fail with. ``job_script`` is what a Slurm/SGE cluster would
    submit per worker (None for the local backend).
    """

    batch: Batch
    backend: str
    commands: pd.DataFrame
    job_script: str | None = None
    cluster_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def units(self) -> list[str]:
        return list(dict.fromkeys(self.commands["unit"]))

    @property
    def errors(self) -> pd.DataFrame:
        return self.commands[self.commands["error"].notna()]

    def __str__(self) -> str:
        lines = [f"dry run of batch {self.batch.name!r} ({self.batch.level} level) on the "
                 f"{self.backend} backend: {len(self.units)} unit(s)"]
        for unit, rows in self.commands.groupby("unit", sort=False):
            lines.append(f"\n=== {unit}")
            for r in rows.itertuples():
                # a DataFrame holds NaN where a study failed to resolve: only strings count
                error = r.error if isinstance(r.error, str) and r.error else None
                lines.append(f"--- job {r.job}" + (f"  ERROR: {error}" if error else ""))
                if isinstance(r.command, str) and r.command:
                    lines.append(r.command.rstrip())
        if self.job_script:
            lines += ["", f"=== {self.backend} job script (one per worker)", self.job_script]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(str(self))}</pre>"


def dry_run(batch: Batch | Mapping[str, Any] | str, project: Project, studies: Any = None, *,
            filters: Mapping[str, str] | str | None = None, backend: str | None = None,
            **options: Any) -> DryRun:
    """Resolve a batch for every selected unit without running anything.

    Later jobs may use the declared outputs of earlier ones (they are taken as if
    written). Arguments as for :func:`launch`.
    """
    cfg = settings(backend=backend, **options)
    b = as_batch(batch, project)
    typed = b.validate()
    studies, filters = _selection(b, studies, filters)
    units = units_for(project, typed.level, studies, filters)
    folder = log_folder(cfg, project, b.name)
    rows = []
    for unit in units:
        rows += _dry_unit(project, typed, unit, folder)
    kwargs = backends.cluster_kwargs(cfg, b.resources, log_directory=folder.parent / "_dask")
    script = backends.job_script(cfg, b.resources, log_directory=folder.parent / "_dask")
    return DryRun(typed, cfg["backend"],
                  pd.DataFrame(rows, columns=["unit", "job", "command", "error"]),
                  script, kwargs)


def _dry_unit(project: Project, batch: Batch, unit: Unit, folder: Path) -> list[dict[str, Any]]:
    pending: dict[str, list[str]] = {}
    rows = []
    failed = False
    for i, job in enumerate(batch.jobs, 1):
        label = f"{i} ({job.label})"
        if failed:
            rows.append({"unit": unit.key, "job": label, "command": None,
                         "error": "not run: an earlier job fails"})
            continue
        try:
            step = resolve_step(project, unit, job, i, pending=pending)
            cmd = render(step, folder / unit.log_stem, unit.key,
                         func=b"" if job.type == "builtin" else None)
            rows.append({"unit": unit.key, "job": label, "command": cmd.text, "error": None})
            for psid, rels in pending_outputs(step, project).items():
                pending.setdefault(psid, []).extend(rels)
        except NoraError as exc:
            failed = True
            rows.append({"unit": unit.key, "job": label, "command": None, "error": str(exc)})
    return rows


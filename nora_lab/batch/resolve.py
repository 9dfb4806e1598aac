"""Resolve a job's arguments for one study (or subject): file patterns → absolute paths.

Resolution happens right before a job runs, so a job finds the outputs that the jobs
before it registered. A dry run resolves every job up front and lets a pattern match
the declared outputs of earlier jobs instead (``pending``).

Every failure is a :class:`~nora_lab.errors.BatchError` whose message names the job,
the argument, the pattern and the study — the per-study error a researcher reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from nora_lab.archive.patterns import FilePattern
from nora_lab.batch.args import Arg, study_reference
from nora_lab.batch.jobs import Job
from nora_lab.errors import BatchError, NoraError, NotFoundError

if TYPE_CHECKING:
    from nora_lab.archive import Project

__all__ = ["Unit", "Output", "ResolvedStep", "units_for", "select_studies", "resolve_step"]


@dataclass(frozen=True)
class Unit:
    """What one run of a batch works on: a study (``psid``) or a whole subject."""

    level: str
    subject: str
    psid: str | None = None

    @property
    def key(self) -> str:
        """The PSID, or the subject id for subject-level units."""
        return self.psid or self.subject

    @property
    def log_stem(self) -> str:
        """``<subject>/<study>`` (or ``<subject>/_subject``) inside the batch's log folder."""
        study = self.psid.partition("#")[2] if self.psid else "_subject"
        return f"{self.subject}/{study}"


@dataclass(frozen=True)
class Output:
    """A declared output of a job, resolved."""

    name: str
    kind: str  # OUT | PATHOUT
    path: Path
    tags: tuple[str, ...] = ()
    psid: str = ""


@dataclass
class ResolvedStep:
    """One job of a batch with every argument resolved for one unit."""

    index: int
    job: Job
    values: dict[str, Any] = field(default_factory=dict)
    outputs: list[Output] = field(default_factory=list)
    cwd: Path | None = None


def units_for(project: Project, level: str, studies: Any = None,
              filters: Mapping[str, str] | str | None = None) -> list[Unit]:
    """The units a launch works on.

    Parameters
    ----------
    studies
        PSIDs (study level) or subject ids (subject level), or a DataFrame with a
        ``psid`` (or ``subject``) column; None: all that match ``filters``.
    filters
        Filter bars as in ``project.studies(filters)``; None with no ``studies``: all.

    Raises
    ------
    BatchError
        If nothing is selected.
    NotFoundError
        If a named study does not exist.
    """
    if isinstance(studies, pd.DataFrame):
        col = "psid" if level == "study" and "psid" in studies else "subject"
        studies = studies[col].tolist()
    elif isinstance(studies, str):
        studies = [studies]
    if studies is not None:
        names = list(dict.fromkeys(str(s) for s in studies))
        if level == "study":
            units = []
            for psid in names:
                sid, sep, _ = psid.partition("#")
                if not sep:
                    raise NotFoundError(f"study {psid!r}: expected a PSID '<subject>#<study>'")
                units.append(Unit("study", sid, psid))
        else:
            units = [Unit("subject", n.partition("#")[0]) for n in names]
            units = list(dict.fromkeys(units))
    elif level == "study":
        df = project.studies(filters)
        units = [Unit("study", s, p) for s, p in zip(df["subject"], df["psid"], strict=True)]
    else:
        df = project.subjects(filters)
        units = [Unit("subject", s) for s in df["subject"]]
    if not units:
        raise BatchError(f"no {'studies' if level == 'study' else 'subjects'} selected in project "
                         f"{project.name!r} (filters {filters!r})")
    return units


def _quoted(text: str) -> str:
    """A subject id as one filter term (the rows are then matched exactly in Python)."""
    return '"' + text + '"'


def select_studies(project: Project, unit: Unit, reference: str | None) -> list[str]:
    """The PSIDs a study reference picks for a unit (ordered by date).

    ``None`` is the unit's own study, or all studies of a subject-level unit.
    """
    if reference is None and unit.psid:
        return [unit.psid]
    pick, cond = study_reference(reference or "")
    filters = {"subject": _quoted(unit.subject)}
    if cond:
        filters["description"] = cond
    df = project.studies(filters, order_by="date")
    psids = [p for p, s in zip(df["psid"], df["subject"], strict=True) if s == unit.subject]
    if not psids:
        what = f"study reference {reference!r}" if reference else "the subject"
        raise BatchError(f"{what} matches no study of subject {unit.subject}")
    if pick == "first":
        return psids[:1]
    if pick == "last":
        return psids[-1:]
    return psids


def _file_paths(project: Project, psids: Sequence[str], pattern: str,
                pending: Mapping[str, Sequence[str]]) -> list[Path]:
    pat = None
    out: list[Path] = []
    for psid in psids:
        found = project.resolve(psid, pattern)
        if not found and pending.get(psid):
            pat = pat or FilePattern(pattern)
            found = [project.study_dir(psid) / rel for rel in pending[psid] if pat.matches(rel)]
        out.extend(found)
    return out


def _where(unit: Unit, psids: Sequence[str]) -> str:
    if unit.psid and list(psids) == [unit.psid]:
        return f"study {unit.psid}"
    return f"study {psids[0]}" if len(psids) == 1 else f"studies {', '.join(psids)}"


def resolve_arg(project: Project, unit: Unit, name: str, arg: Arg, job: str,
                pending: Mapping[str, Sequence[str]] | None = None) -> tuple[Any, Output | None]:
    """Resolve one typed argument; returns (value, output or None)."""
    label = f"{job}: {arg.kind} {name} {arg.value!r}"
    if arg.kind not in ("FILE", "OUT", "PATHOUT"):
        return arg.value, None
    try:
        psids = select_studies(project, unit, arg.study)
    except BatchError as exc:
        raise BatchError(f"{label}: {exc}") from None
    if arg.kind == "FILE":
        paths = _file_paths(project, psids, arg.value, pending or {})
        if not paths:
            raise BatchError(f"{label}: the pattern matches no file in {_where(unit, psids)}")
        if not arg.many and len(paths) > 1:
            listed = ", ".join(p.name for p in paths[:4])
            raise BatchError(f"{label}: the pattern matches {len(paths)} files in "
                             f"{_where(unit, psids)} ({listed}{' …' if len(paths) > 4 else ''}); "
                             "this job takes one: make the pattern more specific")
        strs = [str(p) for p in paths]
        return (strs if arg.many else strs[0]), None
    if len(psids) > 1:
        raise BatchError(f"{label}: the study reference {arg.study!r} picks {len(psids)} studies "
                         f"({', '.join(psids)}); an output goes into one: start it with "
                         "'first' or 'last'")
    try:
        path = project.out_path(psids[0], arg.value)
    except NoraError as exc:
        raise BatchError(f"{label}: {exc}") from None
    return str(path), Output(name, arg.kind, path, arg.tags, psids[0])


def resolve_step(project: Project, unit: Unit, job: Job, index: int, *,
                 pending: Mapping[str, Sequence[str]] | None = None) -> ResolvedStep:
    """Resolve a typed job (see :meth:`Job.validate`) for one unit.

    Raises
    ------
    BatchError
        Naming the job, argument, pattern and study when something does not resolve.
    """
    label = f"job {index} ({job.label})"
    step = ResolvedStep(index, job)
    for name, arg in job.args.items():
        value, out = resolve_arg(project, unit, name, arg, label, pending)
        step.values[name] = value
        if out is not None:
            step.outputs.append(out)
    step.cwd = project.study_dir(unit.psid) if unit.psid else project.root / unit.subject
    return step


def pending_outputs(step: ResolvedStep, project: Project) -> dict[str, list[str]]:
    """The OUT names of a resolved step, per PSID, relative to the study (for dry runs)."""
    out: dict[str, list[str]] = {}
    for o in step.outputs:
        if o.kind == "OUT" and o.psid:
            out.setdefault(o.psid,
                           []).append(o.path.relative_to(project.study_dir(o.psid)).as_posix())
    return out

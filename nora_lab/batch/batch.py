"""A batch: a linear series of jobs run for every selected study (or subject) independently.

>>> b = Batch("copy_t1", [Job.bash("cp $f1 $o1", f1="t1*/s0*.nii", o1="derived/t1.nii")])
>>> Batch.from_json(b.to_json()).to_dict() == b.to_dict()
True

Saved per project in the archive's JSON store (``project.put_json("batch", name, …)``);
the format is documented in ``docs/batch-format.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nora_lab.batch.jobs import Job
from nora_lab.errors import BatchError

if TYPE_CHECKING:
    from nora_lab.archive import Project
    from nora_lab.batch.run import BatchRun
    from nora_lab.batch.submit import DryRun

__all__ = ["Batch", "FORMAT", "LEVELS", "RESOURCE_KEYS"]

FORMAT = "nora_lab.batch/1"
LEVELS = ("study", "subject")
RESOURCE_KEYS = ("queue", "cores", "memory", "walltime", "processes", "job-extra-directives")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=@,-]{0,99}$")
_KEYS = {"format", "name", "level", "description", "jobs", "resources", "selection"}


@dataclass(frozen=True)
class Batch:
    """A named, linear series of jobs.

    Parameters
    ----------
    name
        Letters, digits and ``. _ + = @ , -``; it names the batch's log folder and its
        rows in the jobs table (relaunching a name supersedes its finished rows).
    jobs
        The jobs, run in order for each study; a failing job stops that study.
    level
        ``"study"`` (one run per study) or ``"subject"`` (one per subject; FILE/OUT
        arguments pick the subject's studies by study references).
    resources
        Scheduler requests for this batch: ``queue`` (NORA's ``processing``/``import``
        or a partition), ``cores``, ``memory``, ``walltime``, ``processes``,
        ``job-extra-directives``.
    description
        Free text.
    selection
        Default studies for launches that name none: ``{"studies": [...]}`` and/or
        ``{"filters": {...}}`` (filter bars).
    """

    name: str
    jobs: Sequence[Job] = field(default_factory=tuple)
    level: str = "study"
    resources: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    selection: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "jobs", tuple(self.jobs))
        object.__setattr__(self, "resources", dict(self.resources or {}))
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise BatchError(f"batch name {self.name!r}: use letters, digits and . _ + = @ , - "
                             "(it names the batch's log folder)")
        if self.level not in LEVELS:
            raise BatchError(
                f"batch {self.name!r}: level {self.level!r} is not 'study' or 'subject'")
        bad = set(self.resources) - set(RESOURCE_KEYS) - {k.replace("-", "_")
                                                          for k in RESOURCE_KEYS}
        if bad:
            raise BatchError(f"batch {self.name!r}: unknown resource(s) {', '.join(sorted(bad))} "
                             f"(allowed: {', '.join(RESOURCE_KEYS)})")
        if self.selection is not None and (not isinstance(self.selection, Mapping)
                                           or set(self.selection) - {"studies", "filters"}):
            raise BatchError(f"batch {self.name!r}: 'selection' takes 'studies' and/or 'filters'")

    def __hash__(self) -> int:
        return hash((self.name, self.level, len(self.jobs)))

    # --- checks ----------------------------------------------------------------------
    def validate(self) -> Batch:
        """Check every job (see :meth:`Job.validate`); return the batch with typed jobs."""
        if not self.jobs:
            raise BatchError(f"batch {self.name!r} has no jobs")
        typed = []
        for i, job in enumerate(self.jobs, 1):
            if not isinstance(job, Job):
                raise BatchError(f"batch {self.name!r}, job {i}: expected a Job, got {job!r}")
            typed.append(job.validate(f"batch {self.name!r}, job {i} ({job.label})"))
        return replace(self, jobs=tuple(typed))

    # --- JSON --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The batch as JSON-able data."""
        d: dict[str, Any] = {"format": FORMAT, "name": self.name, "level": self.level}
        if self.description:
            d["description"] = self.description
        d["jobs"] = [j.to_dict() for j in self.jobs]
        if self.resources:
            d["resources"] = {k.replace("_", "-"): v for k, v in self.resources.items()}
        if self.selection:
            d["selection"] = dict(self.selection)
        return d

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **({"indent": 1} | kwargs))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Batch:
        """Read a batch from its JSON form (``docs/batch-format.md``).

        Raises
        ------
        BatchError
            For an unknown format or key, or a malformed job.
        """
        if not isinstance(d, Mapping):
            raise BatchError(f"a batch is a JSON object, got {type(d).__name__}")
        fmt = d.get("format", FORMAT)
        if fmt != FORMAT:
            raise BatchError(f"batch format {fmt!r} is not {FORMAT!r}")
        unknown = set(d) - _KEYS
        if unknown:
            raise BatchError(f"batch: unknown key(s) {', '.join(sorted(unknown))} "
                             f"(allowed: {', '.join(sorted(_KEYS))})")
        name = d.get("name") or "unnamed"
        jobs = d.get("jobs")
        if not isinstance(jobs, list):
            raise BatchError(f"batch {name!r}: 'jobs' must be a list of jobs")
        return cls(name=name, level=d.get("level", "study"), description=d.get("description", ""),
                   jobs=[Job.from_dict(j, f"batch {name!r}, job {i}")
                         for i, j in enumerate(jobs, 1)],
                   resources=d.get("resources") or {}, selection=d.get("selection"))

    @classmethod
    def from_json(cls, text: str | bytes | Mapping[str, Any], *, source: str = "JSON") -> Batch:
        """Parse a batch from JSON text (or an already parsed object)."""
        if isinstance(text, Mapping):
            return cls.from_dict(text)
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise BatchError(f"{source}: not valid JSON ({exc})") from exc
        return cls.from_dict(data)

    @classmethod
    def from_file(cls, path: str | Path) -> Batch:
        """Read a batch from a JSON file."""
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise BatchError(f"cannot read batch file {p}: {exc.strerror}") from exc
        return cls.from_json(text, source=str(p))

    # --- the archive -----------------------------------------------------------------------
    def save(self, project: Project, name: str | None = None) -> None:
        """Store the batch in the project (``put_json("batch", name, …)``)."""
        project.put_json("batch", name or self.name, self.to_dict())

    @classmethod
    def load(cls, project: Project, name: str) -> Batch:
        """A batch saved in the project."""
        return cls.from_dict(project.get_json("batch", name))

    # --- running ---------------------------------------------------------------------------
    def launch(self, project: Project, studies: Iterable[str] | Any = None,
               **kwargs: Any) -> BatchRun:
        """Shorthand for :func:`nora_lab.batch.submit` (``launch(self, project, …)``)."""
        from nora_lab.batch.submit import launch

        return launch(self, project, studies, **kwargs)

    def dry_run(self, project: Project, studies: Iterable[str] | Any = None,
                **kwargs: Any) -> DryRun:
        """What a launch would submit: resolved commands per study, the job script."""
        from nora_lab.batch.submit import dry_run

        return dry_run(self, project, studies, **kwargs)

    def debug(self, project: Project, study: str, **kwargs: Any) -> Path:
        """Write a notebook to step through this batch for one study."""
        from nora_lab.batch.debugging import debug

        return debug(self, project, study, **kwargs)

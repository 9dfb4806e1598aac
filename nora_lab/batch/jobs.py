"""A job: one step of a batch — a BASH, Python or MATLAB/Octave script, a registered callable,
or a notebook.

>>> j = Job.bash("cp $f1 $o1", f1="t1*/s0*.nii", o1="derived/t1.nii TAG(copy)")
>>> j.validate().args["o1"].tags
('copy',)

Generic jobs (``bash``, ``python``, ``matlab``) take their arguments from the variables in the
script (:mod:`nora_lab.batch.variables`); built-in jobs from the registered callable's
parameters (:mod:`nora_lab.batch.registry`); notebook jobs (run with papermill) from
whatever they are given, typed by :class:`Arg` or by the name's prefix (``f1`` FILE …).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nora_lab.batch import variables
from nora_lab.batch.args import Arg
from nora_lab.batch.registry import Registered, _build, get_job
from nora_lab.errors import BatchError

__all__ = ["Job", "JOB_TYPES"]

JOB_TYPES = ("bash", "python", "matlab", "builtin", "notebook")
#: the generic job kinds: a script whose ``$f1 $o1 …`` variables are its arguments
GENERIC = ("bash", "python", "matlab")


def _shorthand_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "LOGICAL"
    if isinstance(value, (int, float)):
        return "NUMERIC"
    return "STRING"


@dataclass(frozen=True)
class Job:
    """One job of a batch; build it with :meth:`bash`, :meth:`python`, :meth:`matlab`,
    :meth:`builtin`, :meth:`call` or :meth:`notebook`.

    Parameters
    ----------
    type
        ``"bash"``, ``"python"``, ``"matlab"``, ``"builtin"`` or ``"notebook"``.
    args
        Argument name → :class:`Arg` (or a shorthand value, typed on :meth:`validate`).
    script
        The script text of a generic job.
    registered_name
        The registered name of a built-in job.
    notebook_path
        The path of a notebook job's ``.ipynb``.
    name
        A label for logs and errors (default: derived from the job).
    func
        A callable run as a built-in job without being registered (not saved in JSON).
    kernel
        Notebook jobs: the kernel name (default: the notebook's own).
    """

    type: str
    args: Mapping[str, Any] = field(default_factory=dict)
    script: str | None = None
    registered_name: str | None = None
    notebook_path: str | None = None
    name: str | None = None
    func: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    kernel: str | None = None

    # --- constructors ----------------------------------------------------------------
    @classmethod
    def bash(cls, script: str, *, name: str | None = None, **args: Any) -> Job:
        """A generic BASH job; ``$f1``, ``$o1`` … in ``script`` are its arguments."""
        return cls("bash", args, script=script, name=name)

    @classmethod
    def python(cls, script: str, *, name: str | None = None, **args: Any) -> Job:
        """A generic Python job; ``$f1`` … in ``script`` become variables of those names."""
        return cls("python", args, script=script, name=name)

    @classmethod
    def matlab(cls, script: str, *, name: str | None = None, **args: Any) -> Job:
        """A generic MATLAB/Octave job (:mod:`nora_lab.batch.matlab`); ``$f1`` … in
        ``script`` become variables of those names."""
        return cls("matlab", args, script=script, name=name)

    @classmethod
    def builtin(cls, job: str, *, name: str | None = None, **args: Any) -> Job:
        """A registered built-in job (see :func:`~nora_lab.batch.register_job`)."""
        return cls("builtin", args, registered_name=job, name=name)

    @classmethod
    def call(cls, func: Callable[..., Any], *, name: str | None = None, **args: Any) -> Job:
        """An unregistered callable as a job; give FILE/OUT arguments as :class:`Arg`."""
        return cls("builtin", args, func=func, name=name or getattr(func, "__name__", None))

    @classmethod
    def notebook(cls, path: str | Path, *, name: str | None = None, kernel: str | None = None,
                 **args: Any) -> Job:
        """A notebook run per study with papermill; ``args`` become its parameters."""
        return cls("notebook", args, notebook_path=str(path), name=name, kernel=kernel)

    # --- naming ----------------------------------------------------------------------
    @property
    def label(self) -> str:
        """The job's name, or one derived from what it runs."""
        if self.name:
            return self.name
        if self.type == "builtin":
            return self.registered_name or str(getattr(self.func, "__name__", "callable"))
        if self.type == "notebook":
            return Path(self.notebook_path or "notebook").stem
        first = (self.script or "").strip().split(None, 1)
        return f"{self.type}:{first[0] if first else ''}"

    def registered(self) -> Registered:
        """The callable of a built-in job and its typed parameters."""
        if self.type != "builtin":
            raise BatchError(f"job {self.label!r} is a {self.type} job, not a built-in one")
        if self.func is not None:
            types = {k: v.kind + ("+" if v.kind == "FILE" and v.many else "")
                     for k, v in self.args.items() if isinstance(v, Arg)}
            return _build(self.label, self.func, types, None)
        return get_job(self.registered_name or "")

    # --- validation --------------------------------------------------------------------
    def validate(self, where: str | None = None) -> Job:
        """Check the job and type its arguments; return the typed job.

        Raises
        ------
        BatchError
            For an unknown job type or variable, a variable without an argument, an
            argument the job does not use, a missing required argument, or a value
            that does not fit its type (e.g. an OUT leaving the study).
        """
        where = where or f"job {self.label!r}"
        if self.type not in JOB_TYPES:
            raise BatchError(f"{where}: unknown job type {self.type!r} "
                             f"(expected one of {', '.join(JOB_TYPES)})")
        if self.type in GENERIC:
            typed = self._typed_generic(where)
        elif self.type == "builtin":
            typed = self._typed_builtin(where)
        else:
            typed = self._typed_notebook(where)
        return replace(self, args={k: a.check(f"{where}, argument {k}") for k, a in typed.items()})

    def _typed_generic(self, where: str) -> dict[str, Arg]:
        if not isinstance(self.script, str) or not self.script.strip():
            raise BatchError(f"{where}: a {self.type} job needs a script")
        used = variables.find(self.script, job=where)
        for k in self.args:
            variables.check_name(k, job=where)
            if k not in used:
                raise BatchError(f"{where}: argument {k} is not used by the script "
                                 f"(no ${k} in it); remove it or use it")
        missing = [v for v in used if v not in self.args]
        if missing:
            raise BatchError(f"{where}: the script uses {', '.join('$' + v for v in missing)} "
                             f"but the job gives no value for it (e.g. {missing[0]}=…)")
        return {k: Arg.of(self.args[k], variables.check_name(k)) for k in used}

    def _typed_builtin(self, where: str) -> dict[str, Arg]:
        reg = self.registered()
        unknown = set(self.args) - set(reg.params)
        if unknown:
            raise BatchError(f"{where}: {reg.name} takes no argument "
                             f"{', '.join(sorted(unknown))} (its arguments: "
                             f"{', '.join(reg.params)})")
        out = {}
        for pname, (kind, many, options) in reg.params.items():
            if pname in self.args:
                value = self.args[pname]
            elif pname in reg.defaults:
                value = reg.defaults[pname]
            else:
                raise BatchError(f"{where}: {reg.name} needs argument {pname!r} ({kind})")
            arg = Arg.of(value, kind, many=many, options=options)
            if kind == "FILE":  # the callable decides: one path or a list
                arg = replace(arg, many=many)
            elif kind == "OPTION" and options:
                arg = replace(arg, options=options)
            out[pname] = arg
        return out

    def _typed_notebook(self, where: str) -> dict[str, Arg]:
        if not self.notebook_path:
            raise BatchError(f"{where}: a notebook job needs the path of its .ipynb")
        out = {}
        for k, v in self.args.items():
            if not k.isidentifier():
                raise BatchError(f"{where}: parameter {k!r} is not a Python name")
            if isinstance(v, Arg):
                out[k] = v
            elif isinstance(v, dict):
                out[k] = Arg.from_dict(v)
            elif len(k) == 2 and k[0] in variables.PREFIXES and k[1].isdigit():
                out[k] = Arg.of(v, variables.PREFIXES[k[0]])
            else:
                out[k] = Arg.of(v, _shorthand_kind(v))
        return out

    # --- JSON --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The job as JSON-able data (see docs/batch-format.md)."""
        if self.func is not None:
            raise BatchError(f"job {self.label!r} runs an unregistered callable, which cannot be "
                             "saved as JSON: register it (nora_lab.batch.register_job) and use "
                             "Job.builtin(name, ...)")
        typed = self.validate()
        d: dict[str, Any] = {"type": self.type}
        if self.name:
            d["name"] = self.name
        for key, value in (("script", self.script), ("job", self.registered_name),
                           ("notebook", self.notebook_path), ("kernel", self.kernel)):
            if value is not None:
                d[key] = value
        d["args"] = {k: a.to_dict() for k, a in typed.args.items() if k in self.args}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "job") -> Job:
        """Read a job from its JSON form."""
        if not isinstance(d, Mapping):
            raise BatchError(f"{where}: expected an object with 'type', got {d!r}")
        d = dict(d)
        unknown = set(d) - {"type", "name", "script", "job", "notebook", "kernel", "args"}
        if unknown:
            raise BatchError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (allowed: "
                             "type, name, script, job, notebook, kernel, args)")
        args = d.get("args") or {}
        if not isinstance(args, Mapping):
            raise BatchError(f"{where}: 'args' must be an object of name: value")
        args = {k: Arg.from_dict(v) if isinstance(v, Mapping) else v for k, v in args.items()}  # type: ignore[arg-type]
        return cls(str(d.get("type", "")), args, script=d.get("script"),
                   registered_name=d.get("job"),
                   notebook_path=d.get("notebook"), name=d.get("name"), kernel=d.get("kernel"))

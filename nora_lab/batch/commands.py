"""Turn a resolved job into what runs: a script file, an argument vector, a display text.

Every job runs in its own process, next to its files in the log folder::

    <log folder>/<subject>/<study>.log       stdout + stderr of every job of the study
    <log folder>/<subject>/<study>.1.sh      job 1, a bash script with its variables set
    <log folder>/<subject>/<study>.2.py      job 2, a Python script (``.m``: MATLAB/Octave)
    <log folder>/<subject>/<study>.3.pkl     job 3, a built-in callable and its arguments
    <log folder>/<subject>/<study>.4.ipynb   job 4, the executed notebook (papermill)

The scripts run by hand as they are (``bash P1/S1.1.sh``), which is also how the dry run
shows them.
"""

from __future__ import annotations

import json
import pickle
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nora_lab.batch import matlab, variables
from nora_lab.batch.resolve import ResolvedStep

__all__ = ["Command", "render"]


@dataclass
class Command:
    """What to run for one job of one unit."""

    argv: list[str]
    text: str  # the resolved script or call, for logs, the jobs table and dry runs
    files: dict[Path, bytes] = field(default_factory=dict)


def _header(step: ResolvedStep, unit: str, comment: str) -> str:
    return f"{comment} nora_lab: job {step.index} ({step.job.label}) for {unit}\n"


def render(step: ResolvedStep, stem: Path, unit: str, *, func: bytes | None = None,
           sys_path: list[str] | None = None, python: str | None = None) -> Command:
    """The command for a resolved job.

    Parameters
    ----------
    step
        The resolved job.
    stem
        ``<log folder>/<subject>/<study>``: the job's files are ``<stem>.<index>.<ext>``.
    unit
        The PSID (or subject) for headers.
    func
        Built-in jobs: the callable, pickled with cloudpickle by the launcher.
    sys_path
        Built-in jobs: the launcher's ``sys.path`` (so callables defined in its modules
        import in the job's process).
    python
        The interpreter (default: this one).
    """
    python = python or sys.executable
    job, i = step.job, step.index
    base = f"{stem}.{i}"
    if job.type == "bash":
        text = ("#!/usr/bin/env bash\n" + _header(step, unit, "#")
                + variables.bash_block(step.values) + "\n" + (job.script or "") + "\n")
        path = Path(base + ".sh")
        return Command(["bash", str(path)], text, {path: text.encode()})
    if job.type == "python":
        text = (_header(step, unit, "#") + variables.python_block(step.values) + "\n"
                + variables.python_text(job.script or "") + "\n")
        path = Path(base + ".py")
        return Command([python, str(path)], text, {path: text.encode()})
    if job.type == "matlab":
        text = (_header(step, unit, "%") + matlab.block(step.values) + "\n"
                + matlab.text(job.script or "") + "\n")
        path = Path(base + ".m")
        return Command(matlab.argv(path), text, {path: text.encode()})
    if job.type == "builtin":
        path = Path(base + ".pkl")
        given = ", ".join(f"{k}={v!r}" for k, v in step.values.items())
        call = f"{job.registered_name or job.label}({given})"
        payload = {"func": func, "kwargs": dict(step.values), "sys_path": list(sys_path or []),
                   "label": job.label}
        data = pickle.dumps(payload) if func is not None else b""
        return Command([python, "-m", "nora_lab.batch._pyrun", str(path)], call + "\n",
                       {path: data} if func is not None else {})
    # notebook
    params = Path(base + ".params.json")
    out = Path(base + ".ipynb")
    argv = [python, "-m", "papermill", str(job.notebook_path), str(out), "-f", str(params),
            "--cwd", str(step.cwd), "--log-output", "--no-progress-bar"]
    if job.kernel:
        argv += ["-k", job.kernel]
    data = json.dumps(_jsonable(step.values), indent=1).encode()
    text = " ".join(shlex.quote(a) for a in argv) + "\n# parameters:\n" + data.decode() + "\n"
    return Command(argv, text, {params: data})


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """Notebook parameters, as Python jobs see them: one file a string, several a list."""
    out = {}
    for k, v in values.items():
        if isinstance(v, (list, tuple)):
            v = v[0] if len(v) == 1 else list(v)
        out[k] = v
    return out

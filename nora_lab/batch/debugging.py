"""A notebook to step through a batch for one study — NORA's "open the job in Jupyter".

>>> path = debug(batch, proj, "P007#S1")     # doctest: +SKIP

The notebook has one ``parameters`` cell (papermill-compatible) with every variable of
every job resolved for that study — or ``None`` and the reason where it does not resolve,
which is usually why the study failed — then a cell setting the job environment
(``$NORA_PSID`` …, the working folder), then each job as cells: bash jobs as ``%%bash``
cells reading their variables from the environment, Python jobs as Python, built-in jobs
as a call of the registered callable, notebook jobs as a papermill call. Outputs are
checked but not registered (a last cell shows how).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nora_lab import config as nora_config
from nora_lab.archive.layout import atomic_target
from nora_lab.batch import variables
from nora_lab.batch.batch import Batch
from nora_lab.batch.config import settings
from nora_lab.batch.resolve import ResolvedStep, Unit, pending_outputs, resolve_step
from nora_lab.errors import BatchError, NoraError

if TYPE_CHECKING:
    from nora_lab.archive import Project

__all__ = ["debug"]


def _unit(level: str, study: str) -> Unit:
    if level == "study":
        return Unit("study", study.partition("#")[0], study)
    return Unit("subject", study.partition("#")[0])


def _names(batch: Batch) -> list[dict[str, str]]:
    """Variable names per job: plain for one job, ``job2_f1`` when there are several."""
    if len(batch.jobs) == 1:
        return [{k: k for k in batch.jobs[0].args}]
    return [{k: f"job{i}_{k}" for k in job.args} for i, job in enumerate(batch.jobs, 1)]


def _env(project: Project, batch: Batch, unit: Unit) -> dict[str, str]:
    url = project.archive.engine.url
    env = {"NORA_ROOT": str(project.archive.root), "NORA_USER": project.archive.user,
           "NORA_PROJECT": project.name, "NORA_BATCH": batch.name,
           "NORA_HOME": str(nora_config.nora_home()), "NORA_SUBJECT": unit.subject}
    if url.password is None:
        env["NORA_DB"] = url.render_as_string(hide_password=False)
    if unit.psid:
        env["NORA_PSID"] = unit.psid
    return env


def _import_of(func: Any) -> str:
    """Code importing a job's callable (its folder put on sys.path if it is no package)."""
    mod, qual = getattr(func, "__module__", ""), getattr(func, "__qualname__", "func")
    if not mod or mod == "__main__" or "." in qual:
        return f"# {qual} was defined interactively: define it here first\n{qual}("
    head = ""
    top = sys.modules.get(mod)
    path = getattr(top, "__file__", None)
    if "." not in mod and path and "site-packages" not in path:
        head = f"import sys\nsys.path.insert(0, {os.path.dirname(path)!r})\n"
    return f"{head}from {mod} import {qual}\n{qual}("


def _job_cells(i: int, step: ResolvedStep | None, names: Mapping[str, str], job: Any) -> list:
    cells = [new_markdown_cell(f"## Job {i}: {job.label} ({job.type})")]
    outputs = step.outputs if step is not None else []
    if outputs:  # as the runner does: the folders outputs go into exist
        dirs = [f"os.path.dirname({names[o.name]})" if o.kind == "OUT" else names[o.name]
                for o in outputs]
        cells.append(new_code_cell(f"for d in [{', '.join(dirs)}]:\n"
                                   "    os.makedirs(d, exist_ok=True)"))
    if job.type == "bash":
        exports = ", ".join(f"{k!r}: env_value({names[k]})" for k in job.args)
        cells.append(new_code_cell("from nora_lab.batch.variables import env_value\n"
                                   f"os.environ.update({{{exports}}})"))
        cells.append(new_code_cell("%%bash\n" + (job.script or "")))
    elif job.type == "python":
        cells.append(new_code_cell(variables.python_text(job.script or "", dict(names))))
    elif job.type == "matlab":  # the resolved script, run by MATLAB or Octave
        values = "{" + ", ".join(f"{k!r}: {names[k]}" for k in job.args) + "}"
        cells.append(new_code_cell(
            "import subprocess, tempfile\nfrom nora_lab.batch import matlab\n"
            f"script = matlab.block({values}) + '\\n' + matlab.text({job.script or ''!r})\n"
            "with tempfile.NamedTemporaryFile('w', suffix='.m', delete=False) as fh:\n"
            "    fh.write(script)\n"
            "subprocess.run(matlab.argv(fh.name), check=True)"))
    elif job.type == "builtin":
        call = ", ".join(f"{k}={names[k]}" for k in job.args)
        cells.append(new_code_cell(_import_of(job.registered().func) + call + ")"))
    else:
        params = ", ".join(f"{k}={names[k]}" for k in job.args)
        cwd = str(step.cwd) if step is not None else "."
        cells.append(new_code_cell(
            "import papermill as pm\n"
            f"pm.execute_notebook({job.notebook_path!r}, 'debug-job{i}.ipynb', "
            f"parameters=dict({params}),\n"
            f"                    cwd={cwd!r})"))
    outs = [names[o.name] for o in outputs]
    if outs:
        cells.append(new_code_cell(f"for p in [{', '.join(outs)}]:\n"
                                   "    print('written' if os.path.exists(p) else 'MISSING', p)"))
    return cells


def debug(batch: Batch | Mapping[str, Any] | str | Any, project: Project | str,
          study: str | None = None, *, path: str | os.PathLike | None = None) -> Path:
    """Write a notebook that runs the batch's jobs for one study, cell by cell.

    ``debug(run, "P007#S1")`` for a :class:`~nora_lab.batch.BatchRun`, or
    ``debug(batch, project, "P007#S1")``.

    Parameters
    ----------
    batch
        A :class:`Batch`, its JSON form, the name of a saved batch, or a BatchRun.
    project
        The project (for a BatchRun: the study).
    study
        The PSID (the subject id for subject-level batches).
    path
        Where to write it; default ``<log folder>/<subject>/<study>.debug.ipynb``.

    Returns
    -------
    Path
        The notebook written.
    """
    from nora_lab.batch.run import BatchRun
    from nora_lab.batch.submit import as_batch, log_folder

    if isinstance(batch, BatchRun):
        run = batch
        batch, project, study = run.batch, run.project, str(project)
    if study is None or isinstance(project, str):
        raise BatchError("debug needs the study: debug(batch, project, study) or "
                         "debug(run, study)")
    b = as_batch(batch, project).validate()
    unit = _unit(b.level, study)
    if unit.psid:
        project.study(study)  # NotFoundError for an unknown study
    names = _names(b)
    params, cells = [], []
    pending: dict[str, list[str]] = {}
    for i, (job, nm) in enumerate(zip(b.jobs, names, strict=True), 1):
        params.append(f"# job {i}: {job.label}")
        try:
            resolved = resolve_step(project, unit, job, i, pending=pending)
            for psid, rels in pending_outputs(resolved, project).items():
                pending.setdefault(psid, []).extend(rels)
            params.append(variables.python_block({nm[k]: v for k, v in resolved.values.items()}))
            step: ResolvedStep | None = resolved
        except NoraError as exc:
            step = None
            params.append(f"# ERROR: {exc}")
            params += [f"{nm[k]} = None" for k in job.args]
        cells += _job_cells(i, step, nm, job)
    env = _env(project, b, unit)
    db = env.pop("NORA_DB", None)
    cwd = project.study_dir(unit.psid) if unit.psid else project.root / unit.subject
    setup = ["import os"]
    if db:
        setup.append(f"os.environ.setdefault('NORA_DB', {db!r})")
    else:
        setup.append("# the archive database needs a password: set $NORA_DB before starting")
    setup += [f"os.environ.update({env!r})", f"os.makedirs({str(cwd)!r}, exist_ok=True)",
              f"os.chdir({str(cwd)!r})"]
    setup_code = "\n".join(setup)
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [new_markdown_cell(f"# Debug batch `{b.name}` for `{unit.key}`\n\n"
                                  "Every variable is resolved in the parameters cell below; "
                                  "step through the jobs one cell at a time.")]
    pcell = new_code_cell("\n".join(params))
    pcell.metadata["tags"] = ["parameters"]
    nb.cells += [pcell, new_code_cell(setup_code), *cells]
    nb.cells.append(new_markdown_cell(
        "Outputs are not registered while debugging. To register one:\n\n"
        "```python\nfrom nora_lab.archive import Archive\n"
        f"Archive.open().project({project.name!r}).register(path, tags=[...])\n```"))
    target = Path(path) if path else (log_folder(settings(), project, b.name)
                                      / f"{unit.log_stem}.debug.ipynb")
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_target(target, overwrite=True) as tmp:
        nbformat.write(nb, str(tmp))
    return target

"""NORA's Batchtool as a widget: compose a batch, preview its FILE patterns, launch it.

>>> tool = BatchTool(proj, table=study_table)                      # doctest: +SKIP
>>> tool.add_job("bash"); tool.set_script(0, "cp $f1 $o1")          # doctest: +SKIP
>>> tool.set_arg(0, "f1", "t1*/s0*.nii"); tool.set_arg(0, "o1", "derived/t1.nii TAG(copy)")
>>> tool.preview_rows()     # what every selected study resolves to    # doctest: +SKIP
>>> run = tool.launch()     # on the studies selected in the table     # doctest: +SKIP

The widget is a thin model over :mod:`nora_lab.batch`: ``jobs`` holds the jobs as JSON
(``docs/batch-format.md``), a generic job's argument rows follow the ``$f1 $o1 $p1 $s1
$n1`` variables of its script as it is typed, built-in jobs come from the registry.
Everything the page can do is a method here; the page sends ``{"action": name, ...}``.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets as t

from nora_lab.errors import BatchError, NoraError

from ._guard import guarded

if TYPE_CHECKING:
    from nora_lab.archive import Project
    from nora_lab.batch import Batch, BatchRun

__all__ = ["BatchTool", "selected_psids"]

_STATIC = Path(__file__).parent / "static"
PREVIEW_LIMIT = 200
# nora_lab.batch.jobs.GENERIC (not imported: it loads the archive)
GENERIC = ("bash", "python", "matlab")


def selected_psids(table: Any = None, selection: Any = None, *,
                   scope: str = "filtered") -> list[str]:
    """The PSIDs a batch runs on.

    A :class:`~nora_lab.widgets.StudyTable` gives the studies matching its filter bars
    (``scope="filtered"``, NORA's batchtool: what the table lists) or its selected study
    (``scope="selected"``); a table with a ``selection`` list trait gives that list;
    otherwise ``selection``: a list of PSIDs, a DataFrame with ``psid``, or a callable
    returning one of these.
    """
    if table is not None:
        if isinstance(getattr(table, "selection", None), (list, tuple)):
            return [str(p) for p in table.selection]
        if isinstance(getattr(table, "selected", None), str):
            if scope == "selected":
                return [table.selected] if table.selected else []
            return table.project.studies(dict(getattr(table, "filters", {}) or {}))["psid"].tolist()
    source = selection() if callable(selection) else selection
    if source is None:
        return []
    if hasattr(source, "columns") and "psid" in source.columns:
        source = source["psid"]
    return [str(p) for p in source]


def _job_dict(job: dict[str, Any]) -> dict[str, Any]:
    """A widget job row → the batch JSON form of a job (empty values left out)."""
    d: dict[str, Any] = {"type": job["type"]}
    if job.get("name"):
        d["name"] = job["name"]
    if job["type"] in GENERIC:
        d["script"] = job.get("script", "")
    else:
        d["job"] = job["job"]
    args = {}
    for name, a in job.get("args", {}).items():
        value = a.get("value")
        if value is None or (isinstance(value, str) and not value.strip()):
            if job["type"] == "builtin":
                continue  # the callable's default
            value = ""
        args[name] = {"type": a["kind"], "value": value, **(
            {"study": a["study"]} if a.get("study") else {})}
        if a["kind"] == "OPTION":
            args[name]["options"] = list(a.get("options", []))
    d["args"] = args
    return d


class BatchTool(anywidget.AnyWidget):
    """Compose, save, load, preview and launch a batch on the studies selected.

    Parameters
    ----------
    project
        The project the batch runs in (launching needs the editor role).
    table
        A :class:`~nora_lab.widgets.StudyTable`: the batch runs on the studies its filter
        bars match (``scope="filtered"``) or on its selected study (``scope="selected"``).
    selection
        Without a table: the PSIDs, or a callable returning them.
    on_launch
        Called with each :class:`~nora_lab.batch.BatchRun` (e.g. ``gridstats.watch``).

    Traits
    ------
    jobs : list of dict
        ``{"type", "script" | "job", "name", "args": {name: {"kind", "value", "study"}}}``.
    templates : list of dict
        Generic BASH/Python and every registered built-in job, with its typed parameters.
    name, level, backend, queue, description
        The batch's name, ``study``/``subject``, ``local``/``slurm``/``sge``, a NORA queue
        name (``processing``, ``import``) or a partition.
    saved : list of str
        The batches saved in the project.
    preview : list of dict
        Per selected study: ``{"psid", "files": {"1:f1": [names]}, "missing": ["1:f1"]}``.
    run_id, run_counts, status, error, debug_path, debug_link
        The last launch, its states, what happened, the last debug notebook.
    """

    _esm = _STATIC / "tools.js"  # one module for the three tools; `_tool` picks the page
    _tool = t.Unicode("batchtool").tag(sync=True)

    templates = t.List(t.Dict()).tag(sync=True)
    jobs = t.List(t.Dict()).tag(sync=True)
    name = t.Unicode("batch1").tag(sync=True)
    description = t.Unicode("").tag(sync=True)
    level = t.Enum(["study", "subject"], "study").tag(sync=True)
    backend = t.Enum(["local", "slurm", "sge"], "local").tag(sync=True)
    queue = t.Unicode("processing").tag(sync=True)
    queues = t.List(t.Unicode()).tag(sync=True)
    saved = t.List(t.Unicode()).tag(sync=True)
    studies = t.List(t.Unicode()).tag(sync=True)
    scope = t.Enum(["filtered", "selected"], "filtered").tag(sync=True)
    preview = t.List(t.Dict()).tag(sync=True)
    run_id = t.Unicode("").tag(sync=True)
    run_counts = t.Dict().tag(sync=True)
    run_errors = t.List(t.Unicode()).tag(sync=True)
    status = t.Unicode("").tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    debug_path = t.Unicode("").tag(sync=True)
    debug_link = t.Unicode("").tag(sync=True)

    def __init__(self, project: Project, *, table: Any = None,
                 selection: Sequence[str] | Callable[[], Sequence[str]] | None = None,
                 on_launch: Callable[[BatchRun], Any] | None = None,
                 launch_options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        from nora_lab.batch import settings

        super().__init__(**kwargs)
        self.project = project
        self.table = table
        self.selection = selection
        self.run: BatchRun | None = None
        self.launch_options = dict(launch_options or {})
        self._on_launch = [on_launch] if on_launch else []
        self.queues = sorted(settings().get("queues", {}))
        self.templates = self._templates()
        self.refresh_saved()
        self.refresh_selection()
        if table is not None and hasattr(table, "observe"):
            names = [n for n in ("selection", "selected", "filters") if table.has_trait(n)]
            table.observe(lambda _c: self._safe(self.refresh_selection), names=names)
        self.observe(lambda _c: self._safe(self.refresh_preview), names=["level"])
        self.observe(lambda _c: self._safe(self.refresh_selection), names=["scope"])
        self.on_msg(self._on_page)

    # --- templates and jobs -------------------------------------------------------------
    @staticmethod
    def _templates() -> list[dict[str, Any]]:
        from nora_lab.batch import registered_jobs

        out: list[dict[str, Any]] = [{"type": "bash", "job": "", "label": "BASH (generic)",
                "description": "a bash script; $f1 $o1 $p1 $s1 $n1 become its arguments"},
               {"type": "python", "job": "", "label": "Python (generic)",
                "description": "a Python script; $f1 $o1 $p1 $s1 $n1 become its arguments"},
               {"type": "matlab", "job": "", "label": "MATLAB/Octave (generic)",
                "description": "a MATLAB script, run by MATLAB or GNU Octave; $f1 $o1 $p1 $s1 "
                               "$n1 become its variables"}]
        for jname, reg in sorted(registered_jobs().items()):
            params = {p: {"kind": kind, "many": many, "options": list(opts),
                          "default": _jsonable(reg.defaults.get(p))}
                      for p, (kind, many, opts) in reg.params.items()}
            out.append({"type": "builtin", "job": jname, "label": jname,
                        "description": reg.description, "params": params})
        return out

    def add_job(self, kind: str, *, script: str = "", name: str = "") -> int:
        """Append a job: ``"bash"``, ``"python"``, ``"matlab"`` or a registered built-in job's name;
        returns its index."""
        if kind in GENERIC:
            job: dict[str, Any] = {"type": kind, "script": "", "name": name, "args": {}}
        else:
            tpl = next((x for x in self.templates if x["type"] == "builtin" and x["job"] == kind),
                       None)
            if tpl is None:
                self.templates = self._templates()  # registered since
                tpl = next((x for x in self.templates if x["job"] == kind), None)
            if tpl is None:
                from nora_lab.batch import get_job

                get_job(kind)  # raises, listing the registered jobs
                raise AssertionError("unreachable")  # pragma: no cover
            job = {"type": "builtin", "job": kind, "name": name, "args": {
                p: {"kind": s["kind"], "value": s["default"], "options": s["options"]}
                for p, s in tpl["params"].items()}}
        self.jobs = [*self.jobs, job]
        if script:
            self.set_script(len(self.jobs) - 1, script)
        return len(self.jobs) - 1

    def remove_job(self, index: int) -> None:
        jobs = list(self.jobs)
        del jobs[index]
        self.jobs = jobs
        self.refresh_preview()

    def move_job(self, index: int, delta: int) -> None:
        jobs = list(self.jobs)
        j = max(0, min(len(jobs) - 1, index + delta))
        jobs.insert(j, jobs.pop(index))
        self.jobs = jobs

    def set_script(self, index: int, script: str) -> list[str]:
        """Set a generic job's script; its argument rows follow the variables in it
        (values typed so far are kept). Returns the variables."""
        from nora_lab.batch.variables import PREFIXES, find

        job = dict(self.jobs[index])
        if job["type"] not in GENERIC:
            raise BatchError(f"job {index + 1} is a {job['type']} job: it has no script")
        job["script"] = script
        try:
            names = find(script, job=f"job {index + 1}")
            self.error = ""
        except NoraError as exc:  # a lookalike ($f0, $x1): keep the rows, say why
            self.error = str(exc)
            names = list(job.get("args", {}))
        old = job.get("args", {})
        job["args"] = {n: old.get(n, {"kind": PREFIXES[n[0]], "value": ""}) for n in names}
        self._put(index, job)
        return names

    def set_arg(self, index: int, name: str, value: Any, *, study: str | None = None) -> None:
        """Set an argument's value (a FILE pattern, ``"out.nii TAG(a)"``, a number …)."""
        job = dict(self.jobs[index])
        args = {k: dict(v) for k, v in job.get("args", {}).items()}
        if name not in args:
            raise BatchError(f"job {index + 1} has no argument {name!r} "
                            f"(its arguments: {', '.join(args) or 'none'})")
        args[name]["value"] = value
        if study is not None:
            args[name]["study"] = study
        job["args"] = args
        self._put(index, job)
        if args[name]["kind"] == "FILE":
            self.refresh_preview()

    def _put(self, index: int, job: dict[str, Any]) -> None:
        jobs = list(self.jobs)
        jobs[index] = job
        self.jobs = jobs

    # --- the batch ----------------------------------------------------------------------
    def to_batch(self) -> Batch:
        """The batch as composed (validated: a missing value says which)."""
        from nora_lab.batch import Batch

        resources = {"queue": self.queue} if self.queue else {}
        b = Batch.from_dict({"name": self.name, "level": self.level,
                             "description": self.description, "resources": resources,
                             "jobs": [_job_dict(j) for j in self.jobs]})
        b.validate()
        return b

    def set_batch(self, batch: Batch) -> None:
        """Show a batch in the tool (what :meth:`load` does with a saved one)."""
        rows = []
        for job in batch.validate().jobs:
            row: dict[str, Any] = {"type": job.type, "name": job.name or "", "args": {}}
            if job.type in GENERIC:
                row["script"] = job.script
            elif job.type == "builtin":
                row["job"] = job.registered_name
            else:
                raise BatchError(f"batch {batch.name!r}: notebook jobs are not edited here yet; "
                                "use nora_lab.batch.Job.notebook in a notebook")
            for k, a in job.args.items():
                value = a.value
                if a.kind in ("OUT", "PATHOUT") and a.tags:
                    value = f"{value} TAG({','.join(a.tags)})"
                row["args"][k] = {"kind": a.kind, "value": _jsonable(value),
                                  "options": list(a.options),
                                  **({"study": a.study} if a.study else {})}
            rows.append(row)
        self.name, self.level, self.description = batch.name, batch.level, batch.description
        self.queue = str(batch.resources.get("queue", self.queue))
        self.jobs = rows
        self.refresh_preview()

    def refresh_saved(self) -> list[str]:
        """The batches saved in the project."""
        self.saved = sorted(self.project.list_json("batch")["name"].tolist())
        return list(self.saved)

    def save(self, name: str | None = None) -> str:
        """Save the batch in the project (``project.put_json("batch", …)``)."""
        b = self.to_batch()
        b.save(self.project, name or b.name)
        self.refresh_saved()
        self.status = f"saved batch {name or b.name!r} in project {self.project.name!r}"
        return name or b.name

    def load(self, name: str) -> None:
        """Show a batch saved in the project."""
        from nora_lab.batch import Batch

        self.set_batch(Batch.load(self.project, name))
        self.status = f"loaded batch {name!r}"

    # --- selection and preview ------------------------------------------------------------
    def refresh_selection(self) -> list[str]:
        """Read the selected studies from the table (or ``selection``); update the preview."""
        self.studies = selected_psids(self.table, self.selection, scope=self.scope)
        self._safe(self.refresh_preview)
        return list(self.studies)

    def preview_rows(self) -> list[dict[str, Any]]:
        """Per selected study, the files each FILE pattern resolves to, and the arguments
        that resolve to nothing (the studies that would fail)."""
        from nora_lab.batch.args import study_reference

        rows = []
        patterns = []  # (key, arg, outputs of earlier jobs the pattern would find)
        earlier: list[str] = []
        for i, j in enumerate(self.jobs):
            for k, a in j.get("args", {}).items():
                if a.get("kind") == "FILE" and isinstance(a.get("value"),
                                                          str) and a["value"].strip():
                    patterns.append((f"{i + 1}:{k}", a, _pending(a["value"], earlier)))
            earlier += [f"{i + 1}:{str(a.get('value') or '').split(' TAG(')[0].strip()}"
                        for a in j.get("args", {}).values() if a.get("kind") == "OUT"]
        for psid in self.studies[:PREVIEW_LIMIT]:
            row: dict[str, Any] = {"psid": psid, "files": {}, "missing": [], "error": ""}
            for key, a, pending in patterns:
                try:
                    targets = self._targets(psid, a.get("study"), study_reference)
                    found = [_short(p) for s in targets
                             for p in self.project.resolve(s, a["value"])]
                except NoraError as exc:
                    row["error"] = str(exc)
                    found = []
                row["files"][key] = found or pending
                if not found and not pending:
                    row["missing"].append(key)
            rows.append(row)
        return rows

    def _targets(self, psid: str, reference: str | None, parse: Any) -> list[str]:
        if reference is None and self.level == "study":
            return [psid]
        from nora_lab.batch.resolve import Unit, select_studies

        subject = psid.partition("#")[0]
        unit = Unit(self.level, subject, psid if self.level == "study" else None)
        parse(reference or "")
        return select_studies(self.project, unit, reference)

    def refresh_preview(self) -> None:
        self.preview = self.preview_rows()

    def dry_run(self) -> str:
        """NORA's "show me what you will do": the resolved commands per study."""
        import pandas as pd

        from nora_lab.batch import dry_run

        d = dry_run(self.to_batch(), self.project, self._units(), backend=self.backend)
        # DryRun.__str__ trips over a NaN command (a unit whose first job fails): format here
        lines = [f"dry run of {d.batch.name!r} on the {d.backend} backend: {len(d.units)} unit(s)"]
        for unit, rows in d.commands.groupby("unit", sort=False):
            lines.append(f"=== {unit}")
            for r in rows.itertuples():
                lines.append(
                    f"--- job {r.job}" + (f"  ERROR: {r.error}" if pd.notna(r.error) else ""))
                if isinstance(r.command, str):
                    lines.append(r.command.rstrip())
        if d.job_script:
            lines += [f"=== {d.backend} job script", d.job_script]
        self.status = "\n".join(lines)
        return self.status

    def _units(self) -> list[str]:
        if not self.studies:
            raise BatchError("no studies selected: select studies in the table first")
        if self.level == "subject":
            return list(dict.fromkeys(p.partition("#")[0] for p in self.studies))
        return list(self.studies)

    # --- launching ------------------------------------------------------------------------
    def launch(self, *, wait: bool = False) -> BatchRun:
        """Launch the batch on the selected studies (subjects); follow it in ``run_counts``."""
        from nora_lab.batch import launch

        batch = self.to_batch()
        run = launch(batch, self.project, self._units(), backend=self.backend, progress=False,
                     **self.launch_options)
        self.run = run
        self.run_id = run.id
        self.run_counts = {"total": len(run.units)}
        self.status = f"launched {batch.name!r} ({run.id}) on {len(run.units)} {batch.level}(s)"
        for callback in self._on_launch:
            callback(run)
        threading.Thread(target=self._follow, args=(run,), daemon=True,
                         name=f"nora-batchtool-{run.id}").start()
        if wait:
            run.wait(progress=False)
            self._follow(run)
        return run

    def on_launch(self, callback: Callable[[BatchRun], Any]) -> None:
        """Call ``callback(run)`` after every launch (Gridstats watches runs this way)."""
        self._on_launch.append(callback)

    def _follow(self, run: BatchRun) -> None:
        while True:
            done = run.done
            states = run.states()
            counts = {"total": len(run.units), **states["state"].value_counts().to_dict()}
            if run is self.run:
                self.run_counts = counts
                self.run_errors = states.loc[states["state"] == "e", "unit"].tolist()
            if done:
                if run is self.run:
                    self.status = f"run {run.id} ended: " + ", ".join(
                        f"{k} {v}" for k, v in counts.items() if k != "total")
                return
            try:
                run.wait(1.0, progress=False)
            except TimeoutError:
                pass
            except Exception as exc:  # noqa: BLE001 - the run's monitor failed: show why
                self.error = f"run {run.id}: {type(exc).__name__}: {exc}"

    def debug(self, psid: str, *, link_dir: str | os.PathLike[str] | None = ".") -> Path:
        """Write the debug notebook of one study's jobs; returns its path.

        With ``link_dir`` (default: the kernel's folder) a copy goes there too, so that
        JupyterLab can open it; ``debug_link`` is that copy's path relative to it.
        """
        if self.run is not None and psid in self.run.logs:
            path = Path(self.run.debug(psid))
        else:
            path = Path(self.to_batch().debug(self.project, psid))
        self.debug_path = str(path)
        if link_dir is not None:
            folder = Path(link_dir)
            copy = folder / f"debug_{self.name}_{psid.replace('#', '_')}.ipynb"
            tmp = folder / f".nora-tmp-{copy.name}"
            shutil.copyfile(path, tmp)
            os.replace(tmp, copy)
            self.debug_link = copy.name if folder.resolve() == Path.cwd().resolve() else str(copy)
        self.status = f"debug notebook for {psid}: {path}"
        return path

    # --- the page -----------------------------------------------------------------------
    def _safe(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return guarded(lambda text: setattr(self, "error", text), fn, *args, **kwargs)

    def _on_page(self, _w: Any, content: dict[str, Any], _buffers: Any) -> None:
        action = content.get("action")
        handlers: dict[str, Callable[..., Any]] = {
            "add_job": lambda: self.add_job(content["kind"]),
            "remove_job": lambda: self.remove_job(int(content["index"])),
            "move_job": lambda: self.move_job(int(content["index"]), int(content["delta"])),
            "set_script": lambda: self.set_script(int(content["index"]), content["script"]),
            "set_arg": lambda: self.set_arg(int(content["index"]), content["name"],
                                            content["value"]),
            "save": lambda: self.save(content.get("name") or None),
            "load": lambda: self.load(content["name"]),
            "refresh": self.refresh_selection,
            "dry_run": self.dry_run,
            "launch": self.launch,
            "debug": lambda: self.debug(content["psid"]),
        }
        if action in handlers:
            self.error = ""
            self._safe(handlers[action])


def _short(path: Path) -> str:
    """A resolved file as ``<series folder>/<file>``."""
    return "/".join(Path(path).parts[-2:])


def _pending(pattern: str, earlier: list[str]) -> list[str]:
    """Outputs of earlier jobs (``"1:derived/t1.nii"``) a FILE pattern will find once they
    ran, shown as ``"← job 1: derived/t1.nii"``."""
    from nora_lab.archive.patterns import FilePattern

    try:
        pat = FilePattern(pattern)
    except NoraError:
        return []
    out = []
    for item in earlier:
        job, _, rel = item.partition(":")
        if rel and pat.matches(rel):
            out.append(f"← job {job}: {rel}")
    return out


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)

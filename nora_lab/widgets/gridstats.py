"""NORA's Gridstats as a widget: a live table of a project's batch jobs.

>>> grid = Gridstats(proj, table=study_table)       # doctest: +SKIP
>>> grid.filters = {"state": "e"}                   # errors only      # doctest: +SKIP
>>> grid.select_job(grid.rows[0]["id"])             # its log, its JSON, its study selected
>>> grid.rerun_errors("preproc")                    # the erroneous subgroup, launched again

Rows come from :func:`nora_lab.archive.job_states.table`; kills go through
:func:`nora_lab.archive.job_states.kill` (the worker stops the job's processes within a poll
interval). :func:`job_state_badges` gives the study table one state letter per study.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import pandas as pd
import traitlets as t

from nora_lab.errors import BatchError, NotFoundError

from ._guard import guarded

if TYPE_CHECKING:
    from nora_lab.archive import Project
    from nora_lab.batch import BatchRun

__all__ = ["Gridstats", "job_state_badges", "SUSPEND_NOTE"]

_STATIC = Path(__file__).parent / "static"
#: most telling state first: a study with a running and an erroneous job shows "r"
_PRIORITY = "rqekd"
LOG_TAIL = 20_000
COLUMNS = ["id", "unit", "batch", "run", "state", "attempts", "user", "submitted", "started",
           "ended", "worker", "error"]
SUSPEND_NOTE = ("suspend is not available: nora_lab.batch's backends (local Dask, Slurm and "
                "SGE through dask-jobqueue) expose no way to pause a job's processes; kill "
                "the job and rerun it (rerun errors/killed) instead")


def job_state_badges(project: Project, psids: Iterable[str]) -> dict[str, str]:
    """One job-state letter per study for the study table: ``r`` running, ``q`` queued,
    ``e`` error, ``k`` killed, ``d`` done (the most telling of the study's latest rows).

    Studies without jobs are left out. Subject-level rows count for every study of the
    subject.
    """
    from nora_lab.archive import job_states as jobs

    wanted = list(dict.fromkeys(psids))
    if not wanted:
        return {}
    df = jobs.table(project, studies=wanted)
    if df.empty:
        return {}
    out: dict[str, str] = {}
    for psid in wanted:
        sub = psid.partition("#")[0]
        states = df.loc[(df["psid"] == psid) | ((df["psid"] == "") & (df["subject"] == sub)),
                        "state"]
        if len(states):
            out[psid] = min(set(states), key=_PRIORITY.index)
    return out


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp) or hasattr(value, "isoformat"):
        return value.isoformat(sep=" ", timespec="seconds") if not pd.isna(value) else None
    if hasattr(value, "item"):
        return value.item()
    return value


class Gridstats(anywidget.AnyWidget):
    """A live, sortable, filterable table of the project's jobs, with logs and controls.

    Parameters
    ----------
    project
        The project whose jobs are shown.
    table
        A :class:`~nora_lab.widgets.StudyTable`: clicking a job selects its study there
        (``table.select(psid)``; a table with a ``selection`` list gets ``[psid]``).
    on_select
        Called with the PSID (or subject id) of a clicked job (also ``selected_study``).
    interval
        Seconds between refreshes while :attr:`live` is on (0: refresh by hand).

    Traits
    ------
    rows : list of dict
        The shown jobs (:data:`COLUMNS`), filtered and sorted.
    filters : dict
        ``user``, ``batch``, ``state`` (letters, e.g. ``"er"``), ``study`` — substrings,
        case-insensitive.
    sort, descending
        The column sorted by.
    max_rows
        The most rows shown (0: all); :attr:`total` counts every job of the project.
    selected_job, log, job_json, selected_study
        The clicked job: its log (the last 20 000 characters), its row as JSON, its unit.
    """

    _esm = _STATIC / "tools.js"  # one module for the three tools; `_tool` picks the page
    _tool = t.Unicode("gridstats").tag(sync=True)

    rows = t.List(t.Dict()).tag(sync=True)
    total = t.Int(0).tag(sync=True)
    filters = t.Dict({"user": "", "batch": "", "state": "", "study": ""}).tag(sync=True)
    sort = t.Unicode("id").tag(sync=True)
    descending = t.Bool(True).tag(sync=True)
    max_rows = t.Int(5000).tag(sync=True)
    selected_job = t.Int(-1).tag(sync=True)
    selected_study = t.Unicode("").tag(sync=True)
    log = t.Unicode("").tag(sync=True)
    job_json = t.Unicode("").tag(sync=True)
    live = t.Bool(False).tag(sync=True)
    interval = t.Float(2.0).tag(sync=True)
    status = t.Unicode("").tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    suspend_note = t.Unicode(SUSPEND_NOTE).tag(sync=True)

    def __init__(self, project: Project, *, table: Any = None,
                 on_select: Callable[[str], Any] | None = None, live: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.table = table
        self._on_select = [on_select] if on_select else []
        self._batches: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.observe(lambda _c: self._safe(self.refresh),
                     names=["filters", "sort", "descending", "max_rows"])
        self.observe(self._toggle_live, names=["live"])
        self.on_msg(self._on_page)
        self.refresh()
        self.live = live

    # --- the table ------------------------------------------------------------------------
    def frame(self) -> pd.DataFrame:
        """The project's jobs after the filters, sorted (all columns; at most
        :attr:`max_rows`, filtered, sorted and cut by the database)."""
        from nora_lab.archive import job_states as jobs

        f = self.filters or {}
        letters = "".join(c for c in str(f.get("state") or "").strip().lower() if c.isalpha())
        self.total = jobs.count(self.project)
        return jobs.table(
            self.project, states=letters or None,
            contains={"user": f.get("user") or "", "batch": f.get("batch") or "",
                      "unit": f.get("study") or ""},
            order_by=self.sort if self.sort in COLUMNS else "id",
            descending=self.descending, limit=self.max_rows or None)

    def refresh(self) -> list[dict[str, Any]]:
        """Read the jobs table again."""
        df = self.frame()
        self.rows = [{c: _cell(v) for c, v in zip(COLUMNS, r, strict=True)}
                     for r in df[COLUMNS].itertuples(index=False)]
        if self.selected_job >= 0:
            self._load_job(self.selected_job, df)
        return list(self.rows)

    def _toggle_live(self, change: dict[str, Any]) -> None:
        if change["new"] and (self._thread is None or not self._thread.is_alive()):
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, daemon=True, name="nora-gridstats")
            self._thread.start()
        elif not change["new"]:
            self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(max(0.2, self.interval or 2.0)):
            if self.interval:
                self._safe(self.refresh)

    def close(self) -> None:
        self._stop.set()
        super().close()

    # --- one job --------------------------------------------------------------------------
    def select_job(self, job_id: int) -> dict[str, Any]:
        """Show a job's log and JSON; select its study in the table (or tell ``on_select``)."""
        from nora_lab.archive import job_states as jobs

        df = jobs.table(self.project, ids=[int(job_id)])
        if df.empty:
            raise NotFoundError(f"no job {job_id} in project {self.project.name!r} (superseded by "
                            "a later launch of its batch, or deleted)")
        self.selected_job = int(job_id)
        info = self._load_job(int(job_id), df)
        unit = info["unit"]
        self.selected_study = unit
        if self.table is not None and info.get("psid"):
            if hasattr(self.table, "select"):  # StudyTable
                self.table.select(info["psid"])
            elif hasattr(self.table, "selection"):
                self.table.selection = [info["psid"]]
        for callback in self._on_select:
            callback(unit)
        return info

    def _load_job(self, job_id: int, df: pd.DataFrame) -> dict[str, Any]:
        row = df[df["id"] == job_id]
        if row.empty:
            return {}
        info = {c: _cell(v) for c, v in row.iloc[0].items()}
        self.job_json = json.dumps(info, indent=1, default=str)
        self.log = self.read_log(info.get("log"))
        return info

    @staticmethod
    def read_log(path: str | None) -> str:
        """The end of a job's log (or why there is none)."""
        if not path:
            return "(this job has no log)"
        p = Path(path)
        try:
            size = p.stat().st_size
            with p.open("rb") as fh:
                fh.seek(max(0, size - LOG_TAIL))
                text = fh.read().decode(errors="replace")
        except FileNotFoundError:
            return f"(no log yet at {p}: the job has not started)"
        return ("…\n" if size > LOG_TAIL else "") + text

    def on_select(self, callback: Callable[[str], Any]) -> None:
        """Call ``callback(psid)`` when a job is clicked."""
        self._on_select.append(callback)

    # --- controls -------------------------------------------------------------------------
    def kill(self, ids: Sequence[int]) -> int:
        """Kill queued/running jobs by row id; returns how many were active."""
        from nora_lab.archive import job_states as jobs

        n = jobs.kill(self.project, ids=[int(i) for i in ids])
        self.status = f"killed {n} job(s)"
        self.refresh()
        return n

    def suspend(self, ids: Sequence[int]) -> int:
        """Not available in nora_lab.batch (see :data:`SUSPEND_NOTE`).

        Raises
        ------
        NoraError
            Always, saying what to do instead.
        """
        raise BatchError(SUSPEND_NOTE)

    def watch(self, run: BatchRun) -> None:
        """Remember a launched run's batch (for reruns) and show its jobs."""
        self._batches[run.batch.name] = run.batch
        self.refresh()

    def rerun_errors(self, batch: str, *, states: str = "e", **options: Any) -> BatchRun:
        """Launch a batch again on its studies whose latest job is an error (``JOB:e``),
        or killed with ``states="ek"``.

        The batch is the one launched from a watched :class:`BatchTool`, else the one saved
        in the project under that name.
        """
        from nora_lab.archive import job_states as jobs
        from nora_lab.batch import Batch, launch

        df = jobs.table(self.project, name=batch, states=states)
        if df.empty:
            raise BatchError(f"batch {batch!r} has no job in state {states!r} in project "
                            f"{self.project.name!r}: nothing to rerun")
        b = self._batches.get(batch) or Batch.load(self.project, batch)
        units = df["unit"].tolist()
        run = launch(b, self.project, units, progress=False, **options)
        self._batches[batch] = b
        self.status = (f"relaunched {batch!r} ({run.id}) on {len(units)} unit(s): "
                       f"{', '.join(units[:5])}")
        self.refresh()
        return run

    # --- the page -------------------------------------------------------------------------
    def _safe(self, fn: Callable[..., Any], *args: Any) -> Any:
        return guarded(lambda text: setattr(self, "error", text), fn, *args)

    def _on_page(self, _w: Any, content: dict[str, Any], _buffers: Any) -> None:
        ids = [int(i) for i in content.get("ids", [])]
        actions: dict[str, Callable[[], Any]] = {
            "refresh": self.refresh,
            "select": lambda: self.select_job(int(content["id"])),
            "kill": lambda: self.kill(ids),
            "suspend": lambda: self.suspend(ids),
            "rerun": lambda: self.rerun_errors(str(content["batch"]),
                                               states=content.get("states", "e")),
        }
        if content.get("action") in actions:
            self.error = ""
            self._safe(actions[content["action"]])

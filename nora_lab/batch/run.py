"""A launched batch: its Dask futures, a thread that records their ends, and controls.

>>> run = launch(batch, proj, filters={"subject": "P0"})   # doctest: +SKIP
>>> run.wait()       # a tqdm progress bar                    # doctest: +SKIP
>>> run.states()     # this run's rows of the jobs table      # doctest: +SKIP
>>> run.kill()       # all its queued and running jobs        # doctest: +SKIP

The scheduler lives in the launching process: a run ends when all its units reported,
then the cluster it started is closed. Units that never reported (their workers died
for good) are marked as errors with the reason, so nothing stays "running".
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from nora_lab.archive import job_states as states
from nora_lab.archive.job_states import JobState
from nora_lab.batch.resolve import Unit
from nora_lab.errors import BatchTimeout

if TYPE_CHECKING:
    from nora_lab.archive import Project
    from nora_lab.batch.batch import Batch

__all__ = ["BatchRun"]


def _describe(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "KilledWorker":
        return (f"the worker running it was lost {getattr(exc, 'allowed_failures', 0) + 1} "
                f"times (KilledWorker; last worker {getattr(exc, 'last_worker', '?')})")
    return f"{name}: {exc}"


class BatchRun:
    """One launch of a batch. Made by :func:`nora_lab.batch.submit`."""

    def __init__(self, batch: Batch, project: Project, run_id: str, units: Sequence[Unit],
                 job_ids: Sequence[int], logs: Sequence[str], *, client: Any = None,
                 cluster: Any = None, owns_client: bool = False, owns_cluster: bool = False,
                 futures: Sequence[Any] = ()) -> None:
        self.batch = batch
        self.project = project
        self.id = run_id
        self.units = list(units)
        self.job_ids = list(job_ids)
        self.logs = dict(zip((u.key for u in self.units), logs, strict=True))
        self.client = client
        self.cluster = cluster
        self._owns = (owns_client, owns_cluster)
        self._futures = list(futures)
        self._ids = dict(zip((f.key for f in self._futures), self.job_ids, strict=False))
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------
    def _start(self) -> None:
        self._thread = threading.Thread(target=self._monitor, name=f"nora-batch-{self.id}",
                                        daemon=True)
        self._thread.start()

    def _monitor(self) -> None:
        try:
            from distributed import as_completed

            for fut, result in as_completed(self._futures, loop=self.client.loop,
                                            with_results=True, raise_errors=False):
                job_id = self._ids.get(fut.key)
                state = self._record(fut, result, job_id)
                with self._lock:
                    self._counts[state] += 1
            states.fail_active(self.project, "the batch run ended but this unit never reported "
                                             "back (its worker was lost)", run=self.id)
        except BaseException as exc:  # noqa: BLE001 - surfaced by wait()
            self._error = exc
            states.fail_active(self.project, f"the batch run's monitor failed: {_describe(exc)}",
                               run=self.id)
        finally:
            self._futures = []
            self._close()
            self._done.set()

    def _record(self, fut: Any, result: Any, job_id: int | None) -> str:
        if isinstance(result, dict):
            return str(result.get("state", JobState.ERROR))
        if isinstance(result, tuple) and len(result) == 3 and isinstance(result[1], BaseException):
            result = result[1]  # as_completed(raise_errors=False): (type, exception, traceback)
        if fut.status == "cancelled":
            reason = "cancelled (its future was cancelled)"
        elif isinstance(result, BaseException):
            reason = _describe(result)
        else:
            reason = f"ended as {fut.status}: {result!r}"
        if job_id is None:
            return JobState.ERROR
        if type(result).__name__ == "JobLost":  # its own words, on the last attempt
            states.finish(self.project, job_id, JobState.ERROR,
                          error=f"retried, then: {result}")
        else:
            states.fail_active(self.project, reason, ids=[job_id])
        return states.state(self.project, job_id) or JobState.ERROR

    def _close(self) -> None:
        owns_client, owns_cluster = self._owns
        if owns_client and self.client is not None:
            try:
                self.client.close()
            except Exception:  # noqa: BLE001, S110 - closing is best effort
                pass
        if owns_cluster and self.cluster is not None:
            try:
                self.cluster.close()
            except Exception:  # noqa: BLE001, S110
                pass

    # --- waiting ------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """Have all units reported (and the run's own cluster been closed)?"""
        return self._done.is_set()

    def counts(self) -> dict[str, int]:
        """Units per final state so far, as recorded by this process (``{"d": 19, "e": 1}``)."""
        with self._lock:
            return dict(self._counts)

    def wait(self, timeout: float | None = None, *, progress: bool = True) -> BatchRun:
        """Block until every unit has ended; show a tqdm progress bar.

        Raises
        ------
        BatchTimeout
            If ``timeout`` seconds pass first (the run goes on); a ``TimeoutError``.
        """
        import time

        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(self.units), desc=f"batch {self.batch.name}",
                       unit=self.batch.level)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not self._done.wait(0.2):
                if bar is not None:
                    self._update(bar)
                if deadline is not None and time.monotonic() > deadline:
                    raise BatchTimeout(f"batch {self.batch.name!r} run {self.id} still running "
                                       f"after {timeout}s: {self.counts()}")
            if bar is not None:
                self._update(bar)
        finally:
            if bar is not None:
                bar.close()
        if self._error is not None:
            raise self._error
        return self

    def _update(self, bar: Any) -> None:
        c = self.counts()
        bar.n = sum(c.values())
        bar.set_postfix({states.STATES[k]: v for k, v in sorted(c.items())}, refresh=False)
        bar.refresh()

    @property
    def ok(self) -> bool:
        """Did every unit end done? (waits for nothing; False while running)"""
        return self.done and set(self.counts()) <= {JobState.DONE}

    # --- looking at it ----------------------------------------------------------------
    def states(self) -> pd.DataFrame:
        """This run's rows of the jobs table (``unit, state, attempts, …, error``)."""
        return states.table(self.project, run=self.id).sort_values("unit", ignore_index=True)

    def errors(self) -> pd.DataFrame:
        """The units that ended in error, with the reason and the log path."""
        df = self.states()
        return df.loc[df["state"] == JobState.ERROR, ["unit", "error", "log", "attempts", "worker"]]

    def log(self, unit: str) -> str:
        """The log of one unit (PSID or subject id)."""
        return Path(self.logs[unit]).read_text(errors="replace")

    def kill(self, units: Sequence[str] | None = None) -> int:
        """Kill the run's queued and running jobs (or those of ``units``); returns how many.

        Running jobs' process groups get SIGTERM (then SIGKILL) within a poll interval.
        """
        level = self.batch.level
        return states.kill(self.project, run=self.id, units=list(units) if units else None,
                           level=level)

    def debug(self, unit: str, **kwargs: Any) -> Path:
        """Write a notebook to step through the batch for one unit (see :func:`debug`)."""
        from nora_lab.batch.debugging import debug

        return debug(self, unit, **kwargs)

    def __repr__(self) -> str:
        c = ", ".join(f"{states.STATES[k]} {v}" for k, v in sorted(self.counts().items()))
        state = "ended" if self.done else "running"
        return (f"<BatchRun {self.batch.name!r} {self.id}: {len(self.units)} {self.batch.level} "
                f"unit(s), {state}{': ' + c if c else ''}>")

"""What a Dask worker does for one unit: run the batch's jobs in order, in subprocesses.

:func:`run_unit` is the one Dask task per study (or subject). It

1. takes the unit's row in the jobs table (q → r; refuses a killed or finished row, and
   one whose workers were already lost ``max-attempts`` times);
2. for each job: resolves its arguments (so it sees what earlier jobs registered),
   writes its script next to the log, runs it in its own process group with stdout and
   stderr appended to the unit's log, polls the row so that a kill stops it, checks that
   every declared OUT exists, and registers the outputs with their tags;
3. ends the row as done, or as an error that names the job and the reason.

A job's process that dies of SIGTERM/SIGKILL/SIGHUP it was not sent by nora_lab means
the worker is going down (scancel, walltime, OOM): the task raises :class:`JobLost`, so
Dask runs the unit once more elsewhere (``retries=1``) — and a worker that vanishes
altogether is rescheduled by the scheduler. The row's ``attempts`` caps both.
"""

from __future__ import annotations

import datetime as _dt
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nora_lab.archive import job_states as states
from nora_lab.archive.job_states import JobState
from nora_lab.archive.layout import TMP_PREFIX
from nora_lab.batch.commands import render
from nora_lab.batch.jobs import Job
from nora_lab.batch.resolve import ResolvedStep, Unit, resolve_step
from nora_lab.errors import BatchError, JobLost, NoraError

__all__ = ["UnitTask", "StepSpec", "run_unit", "JobLost", "job_env"]

_LOST_SIGNALS = {signal.SIGTERM, signal.SIGKILL, signal.SIGHUP, signal.SIGINT}
_ARCHIVES: dict[tuple[str, str, str], Any] = {}  # per worker process, least recently used first
_KEEP = 4
_LOCK = threading.Lock()


@dataclass
class StepSpec:
    """One typed job of the batch, as sent to workers (callables pickled separately)."""

    index: int
    job: Job
    func: bytes | None = None


@dataclass
class UnitTask:
    """Everything a worker needs for one unit; small and picklable."""

    job_id: int
    run: str
    batch: str
    unit: Unit
    steps: list[StepSpec]
    db_url: str
    root: str
    user: str
    project: str
    log: str
    home: str | None = None
    sys_path: list[str] = field(default_factory=list)
    max_attempts: int = 2
    poll: float = 1.0
    grace: float = 5.0


def _project(task: UnitTask) -> Any:
    """The task's project, opened once per worker process and archive."""
    from nora_lab.archive import Archive

    key = (task.db_url, task.root, task.user)
    with _LOCK:
        arc = _ARCHIVES.pop(key, None)
        if arc is None:
            arc = Archive.open(task.db_url, root=task.root, user=task.user)
        _ARCHIVES[key] = arc  # most recently used last
        while len(_ARCHIVES) > _KEEP:
            _ARCHIVES.pop(next(iter(_ARCHIVES))).close()
    return arc.project(task.project)


def worker_name() -> str:
    """``host dask-worker-name [slurm:JOBID|sge:JOBID]`` of the current process."""
    name = "local"
    try:
        from distributed import get_worker

        name = str(get_worker().name)
    except (ImportError, ValueError):
        pass
    out = f"{socket.gethostname()} {name}"
    if os.environ.get("SLURM_JOB_ID"):
        out += f" slurm:{os.environ['SLURM_JOB_ID']}"
    elif os.environ.get("JOB_ID"):
        out += f" sge:{os.environ['JOB_ID']}"
    return out


def job_env(task: UnitTask) -> dict[str, str]:
    """The environment of a unit's jobs: the `nora` command opens the same archive as the
    same user, and ``$NORA_PSID`` is the study (so ``nora -a $o1 --addtag x`` works)."""
    env = dict(os.environ)
    env.update(NORA_DB=task.db_url, NORA_ROOT=task.root, NORA_USER=task.user,
               NORA_PROJECT=task.project, NORA_BATCH=task.batch, NORA_RUN=task.run,
               NORA_JOB_ID=str(task.job_id), NORA_SUBJECT=task.unit.subject)
    if task.home:
        env["NORA_HOME"] = task.home
    if task.unit.psid:
        env["NORA_PSID"] = task.unit.psid
    else:
        env.pop("NORA_PSID", None)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _stamp() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def _result(task: UnitTask, state: JobState, error: str | None = None,
            attempts: int = 0) -> dict:
    return {"job_id": task.job_id, "unit": task.unit.key, "state": state, "error": error,
            "attempts": attempts}


def run_unit(task: UnitTask) -> dict[str, Any]:
    """Run a unit's jobs; the Dask task. Returns ``{job_id, unit, state, error, attempts}``.

    Raises
    ------
    JobLost
        When a job's process was terminated from outside (Dask then retries the unit).
    """
    proj = _project(task)
    verdict, attempt = states.start(proj, task.job_id, worker=worker_name(),
                                    max_attempts=task.max_attempts)
    if verdict != "run":
        state = {"killed": JobState.KILLED, "exhausted": JobState.ERROR}.get(
            verdict, states.state(proj, task.job_id))
        return _result(task, state or JobState.ERROR, verdict, attempt)
    log = Path(task.log)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb" if attempt == 1 else "ab", buffering=0) as fh:
        fh.write(f"# nora_lab batch {task.batch!r} run {task.run}: {task.unit.key}, attempt "
                 f"{attempt} on {worker_name()} at {_stamp()}\n".encode())
        state, error = _run_steps(task, proj, fh, attempt)
        fh.write(f"# {_stamp()}: {states.STATES[state]}{': ' + error if error else ''}\n".encode())
    return _result(task, state, error, attempt)


def _run_steps(task: UnitTask, proj: Any, fh: Any, attempt: int
               ) -> tuple[JobState, str | None]:
    env = job_env(task)
    stem = Path(task.log).with_suffix("")
    texts: list[str] = []
    n = len(task.steps)
    for spec in task.steps:
        label = f"job {spec.index} ({spec.job.label})"
        if spec.index > 1 and states.state(proj, task.job_id) == JobState.KILLED:
            return JobState.KILLED, f"killed before {label}"
        try:
            step = resolve_step(proj, task.unit, spec.job, spec.index)
            cmd = render(step, stem, task.unit.key, func=spec.func, sys_path=task.sys_path)
        except NoraError as exc:
            return _fail(proj, task, attempt, str(exc), texts)
        for path, data in cmd.files.items():
            path.write_bytes(data)
        texts.append(f"# --- job {spec.index}/{n}: {spec.job.label} ---\n{cmd.text}")
        _prepare(step)
        side = _Sidecars(stem, spec.index)
        fh.write(f"# {_stamp()} {label}: {' '.join(cmd.argv)}\n".encode())
        t0 = time.perf_counter()
        command = "\n".join(texts)
        rc, how = _execute(cmd.argv, fh, step.cwd, {**env, "NORA_JOB_META": str(side.meta)}, task,
                           proj,
                           lambda command=command: states.progress(proj, task.job_id,
                                                                   command=command))
        fh.write(f"# {label}: exit {rc} after {time.perf_counter() - t0:.2f}s\n".encode())
        if how == "killed":
            return JobState.KILLED, f"killed during {label}"
        if how == "lost":
            sig = signal.Signals(-rc).name
            msg = (f"attempt {attempt} on {worker_name()}: {label} was terminated by {sig} "
                   "(worker going down? scancel, walltime, memory)")
            states.note(proj, task.job_id, msg)
            raise JobLost(msg)
        if rc != 0:
            why = f"killed by {signal.Signals(-rc).name}" if rc < 0 else f"exited with status {rc}"
            why += side.cause()
            return _fail(proj, task, attempt, f"{label} {why} (see the log {task.log})", texts)
        try:
            _register(proj, step, side.file_meta())
        except NoraError as exc:
            return _fail(proj, task, attempt, f"{label}: {exc}", texts)
    states.finish(proj, task.job_id, JobState.DONE, attempt=attempt,
                  command="\n".join(texts))
    return JobState.DONE, None


def _fail(proj: Any, task: UnitTask, attempt: int, error: str, texts: list[str]
          ) -> tuple[JobState, str]:
    states.finish(proj, task.job_id, JobState.ERROR, error=error, attempt=attempt,
                  command="\n".join(texts) or None)
    return JobState.ERROR, error


def _prepare(step: ResolvedStep) -> None:
    """Create the job's working folder and the folders its outputs go into."""
    assert step.cwd is not None
    step.cwd.mkdir(parents=True, exist_ok=True)
    for o in step.outputs:
        (o.path if o.kind == "PATHOUT" else o.path.parent).mkdir(parents=True, exist_ok=True)


def _execute(argv: list[str], fh: Any, cwd: Path | None, env: dict[str, str], task: UnitTask,
             proj: Any, still_running: Any = None) -> tuple[int, str]:
    """Run one job's process; returns (exit status, "ok" | "killed" | "lost").

    ``still_running()`` is called once if the process outlives a first short wait (to
    record the command of a job that takes a while, without a write for short jobs).
    """
    try:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=cwd, env=env,
                                start_new_session=True)
    except OSError as exc:
        fh.write(f"# cannot start {argv[0]}: {exc}\n".encode())
        return 127, "ok"
    with _Exit(proc) as exited:
        if not exited.wait(min(0.2, task.poll)) and still_running is not None:
            still_running()
        while proc.poll() is None and not exited.wait(task.poll):
            if states.state(proj, task.job_id) == JobState.KILLED:
                _terminate(proc, task.grace)
                return proc.returncode, "killed"
    rc = proc.wait()
    if rc < 0 and -rc in _LOST_SIGNALS:
        return rc, "lost"
    return rc, "ok"


class _Exit:
    """Wait for a process's exit without polling: a pidfd where Linux has one.

    (``Popen.wait(timeout)`` sleeps in growing steps, which adds milliseconds to every
    short job.)
    """

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.fd: int | None = None

    def __enter__(self) -> _Exit:
        try:
            self.fd = os.pidfd_open(self.proc.pid)
        except (AttributeError, OSError):
            self.fd = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)

    def wait(self, timeout: float) -> bool:
        """True once the process has exited (it is then reaped by ``proc.wait()``)."""
        if self.fd is None:
            try:
                self.proc.wait(timeout=timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        ready, _, _ = select.select([self.fd], [], [], timeout)
        return bool(ready)


def _terminate(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM the job's process group, SIGKILL it after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


class _Sidecars:
    """What a job's process may leave beside its script: ``$NORA_JOB_META`` (JSON
    ``{output path: file metadata}``, stored with the outputs when they are registered,
    e.g. the provenance of built-in processing jobs) and ``<stem>.<n>.error`` (the one-line
    cause of a built-in job's failure, for the jobs table)."""

    def __init__(self, stem: Path, index: int) -> None:
        self.meta = Path(f"{stem}.{index}.meta.json")
        self.error = Path(f"{stem}.{index}.error")
        for p in (self.meta, self.error):  # a previous attempt's
            p.unlink(missing_ok=True)

    def cause(self) -> str:
        try:
            text = self.error.read_text().strip()
        except OSError:
            return ""
        return f": {text}" if text else ""

    def file_meta(self) -> dict[str, Any]:
        import json

        try:
            data = json.loads(self.meta.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


def _register(proj: Any, step: ResolvedStep, meta: dict[str, Any] | None = None) -> None:
    """Check that the declared outputs exist and register them with their tags (and the
    metadata the job left for them)."""
    meta = meta or {}
    for o in step.outputs:
        if o.kind == "OUT":
            if not o.path.is_file():
                raise BatchError(f"declared output {o.name} = {o.path} was not written")
            proj.register(o.path, tags=o.tags, meta=meta.get(str(o.path)))
        else:
            if not o.path.is_dir():
                raise BatchError(f"declared output folder {o.name} = {o.path} is missing")
            for dirpath, dirnames, filenames in os.walk(o.path):
                dirnames[:] = [d for d in dirnames if not d.startswith(TMP_PREFIX)]
                for name in sorted(filenames):
                    if not name.startswith(TMP_PREFIX):
                        path = Path(dirpath) / name
                        proj.register(path, tags=o.tags, meta=meta.get(str(path)))

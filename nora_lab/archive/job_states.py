"""Job states of batch runs: the archive's side of :mod:`nora_lab.batch` (which defines
the jobs themselves, :mod:`nora_lab.batch.jobs`).

One row of the ``jobs`` table per *unit* (a study, or a subject for subject-level batches) and
batch run. ``state`` is a :class:`JobState`, stored as NORA's letter: ``q``\\ueued,
``r``\\unning, ``e``\\rror, ``d``\\one, ``k``\\illed; the filter bars' ``JOB:e`` reads it. A row
moves q → r → d | e, or to k when killed; every state change here is a conditional UPDATE, so a
late writer (a lost worker that comes back, a retry) never overwrites a newer state.

Launching a batch again on a unit *supersedes* that unit's finished rows of the same
batch name (so "rerun the erroneous subgroup" leaves ``JOB:e`` empty when it works);
a unit whose row of that batch is still queued or running is refused.

Logs live outside the project folders (so ``nora --fsck`` never sees them), under the
storage root: ``<root>/.nora/logs/<project>/<batch>/<subject>/<study>.log``.

Times are naive UTC.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from nora_lab.archive import _db
from nora_lab.archive import _schema as t
from nora_lab.errors import BatchError, FilterSyntaxError, NotFoundError

if TYPE_CHECKING:
    import pandas as pd

    from nora_lab.archive.archive import Archive
    from nora_lab.archive.project import Project

__all__ = ["JobState", "STATES", "ACTIVE", "FINISHED", "log_root", "log_dir", "create", "start",
           "progress",
           "finish", "note", "state", "fail_active", "kill", "table", "count", "reap",
           "launcher_id"]



class JobState(StrEnum):
    """A job's state. Each is its NORA letter (``JobState.ERROR == "e"``), as stored and
    as the filter bars' ``JOB:e`` reads it."""

    QUEUED = "q"
    RUNNING = "r"
    ERROR = "e"
    DONE = "d"
    KILLED = "k"

    @property
    def word(self) -> str:
        """``"queued"``, ``"running"``, ``"error"``, ``"done"`` or ``"killed"``."""
        return self.name.lower()


#: letter -> word, in NORA's order
STATES = {s.value: s.word for s in JobState}
#: the states of a job that is not finished
ACTIVE = (JobState.QUEUED, JobState.RUNNING)
#: the states a job can finish in
FINISHED = (JobState.DONE, JobState.ERROR, JobState.KILLED)
_CHUNK = 500
T = TypeVar("T")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def launcher_id() -> str:
    """``host:pid`` of this process (recorded so that stale rows can be reaped)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def log_root(archive: Archive) -> Path:
    """``<storage root>/.nora/logs``: where batch logs and resolved scripts go."""
    return archive.root / ".nora" / "logs"


def log_dir(project: Project, batch: str) -> Path:
    """The log folder of one batch of a project (not created)."""
    return log_root(project.archive) / project.name / batch


# --- units --------------------------------------------------------------------------------


def _unit_pks(conn: sa.Connection, project: Project, level: str,
              units: Sequence[str]) -> list[tuple[int | None, int]]:
    """(study pk or None, subject pk) for each PSID (study level) or subject id."""
    s, sub = t.studies, t.subjects
    if level == "study":
        rows = conn.execute(sa.select(s.c.id, s.c.subject, sub.c.subject_id, s.c.study_id)
                            .join(sub, sub.c.id == s.c.subject)
                            .where(s.c.project_id == project.pk)).all()
        known = {f"{r.subject_id}#{r.study_id}": (r.id, r.subject) for r in rows}
    else:
        rows = conn.execute(sa.select(sub.c.id, sub.c.subject_id)  # type: ignore[assignment]
                            .where(sub.c.project_id == project.pk)).all()
        known = {r.subject_id: (None, r.id) for r in rows}
    missing = [u for u in units if u not in known]
    if missing:
        what = "studies" if level == "study" else "subjects"
        raise NotFoundError(f"no {what} {', '.join(map(repr, missing[:5]))}"
                            f"{' …' if len(missing) > 5 else ''} in project {project.name!r}")
    return [known[u] for u in units]


def _unit_col(level: str) -> sa.ColumnElement:
    return t.jobs.c.study if level == "study" else t.jobs.c.subject


# --- creating and updating rows -------------------------------------------------------------


def create(project: Project, run: str, name: str, level: str, units: Sequence[str], *,
           spec: dict[str, Any] | None = None, logs: Sequence[str] | None = None) -> list[int]:
    """Queue one row per unit for a batch run; return the row ids (in ``units`` order).

    Finished rows of the same batch ``name`` for these units are superseded (deleted).

    Raises
    ------
    BatchError
        If a unit has a queued or running row of this batch already.
    NotFoundError
        If a unit does not exist.
    """
    project._require("editor", f"launching batch {name!r}")
    j = t.jobs
    now = _now()
    spec = {"launcher": launcher_id(), "level": level, **(spec or {})}
    with _db.write(project.archive.engine) as conn:
        pks = _unit_pks(conn, project, level, units)
        col = _unit_col(level)
        keys = [p[0] if level == "study" else p[1] for p in pks]
        busy: list[Any] = []
        for i in range(0, len(keys), _CHUNK):
            busy += conn.execute(sa.select(col, j.c.batch, j.c.state).where(
                j.c.project_id == project.pk, j.c.name == name, col.in_(keys[i:i + _CHUNK]),
                j.c.state.in_(ACTIVE))).all()
        if busy:
            by_key = dict(zip(keys, units, strict=True))
            listed = ", ".join(f"{by_key[b[0]]} ({STATES[b.state]} in run {b.batch})"
                               for b in busy[:5])
            raise BatchError(f"batch {name!r} is still queued or running for {listed}"
                             f"{' …' if len(busy) > 5 else ''}: kill it first "
                             f"(nora -p {project.name} --killjobs RUN) or wait for it")
        for i in range(0, len(keys), _CHUNK):
            conn.execute(sa.delete(j).where(j.c.project_id == project.pk, j.c.name == name,
                                            col.in_(keys[i:i + _CHUNK])))
        rows = [{"project_id": project.pk, "study": st, "subject": su, "batch": run,
                 "name": name, "user_name": project.archive.user, "state": JobState.QUEUED,
                 "submitted": now, "attempts": 0, "spec": spec,
                 "log": logs[k] if logs else None}
                for k, (st, su) in enumerate(pks)]
        ids: list[int] = []
        for i in range(0, len(rows), _CHUNK):
            ids += conn.execute(sa.insert(j).returning(j.c.id, sort_by_parameter_order=True),
                                rows[i:i + _CHUNK]).scalars().all()
    return list(ids)


def start(project: Project, job_id: int, *, worker: str, max_attempts: int = 2) -> tuple[str, int]:
    """A worker takes a row: q (or r, after a lost worker) → r, attempts + 1.

    Returns
    -------
    (verdict, attempts)
        ``"run"``: go ahead, this is attempt ``attempts``. ``"killed"`` or
        ``"finished"``: the row is no longer active, do nothing. ``"exhausted"``: the
        row was started ``max_attempts`` times already (its workers were lost); it is
        now marked as an error.
    """
    j = t.jobs
    with _db.write(project.archive.engine) as conn:
        # the common case in one statement: an active row with attempts left
        attempts = conn.execute(sa.update(j).where(
            j.c.id == job_id, j.c.project_id == project.pk, j.c.state.in_(ACTIVE),
            j.c.attempts < max_attempts).values(
            state=JobState.RUNNING, started=_now(), ended=None, worker=worker,
            attempts=j.c.attempts + 1)
            .returning(j.c.attempts)).scalar()
        if attempts is not None:
            return "run", attempts
        row = conn.execute(sa.select(j.c.state, j.c.attempts, j.c.worker, j.c.error).where(
            j.c.id == job_id, j.c.project_id == project.pk)).first()
        if row is None:
            raise NotFoundError(f"no job {job_id} in project {project.name!r}")
        if row.state == JobState.KILLED:
            return "killed", row.attempts
        if row.state not in ACTIVE:
            return "finished", row.attempts
        if row.attempts >= max_attempts:
            why = f": {row.error}" if row.error else ""
            conn.execute(sa.update(j).where(j.c.id == job_id).values(
                state=JobState.ERROR, ended=_now(),
                error=f"gave up after {row.attempts} attempts: the worker was lost each time "
                      f"(last: {row.worker}){why}"))
            return "exhausted", row.attempts
    raise AssertionError("unreachable")  # pragma: no cover


def progress(project: Project, job_id: int, *, command: str) -> None:
    """Record the resolved command(s) of a running row so far."""
    with _db.write(project.archive.engine) as conn:
        conn.execute(sa.update(t.jobs).where(t.jobs.c.id == job_id,
                                             t.jobs.c.state == JobState.RUNNING)
                     .values(command=command))


def finish(project: Project, job_id: int, new_state: JobState | str, *, error: str | None = None,
           attempt: int | None = None, command: str | None = None) -> bool:
    """End a running (or queued) row as ``d``/``e``/``k``; False if it was not active.

    With ``attempt``, only the row of that attempt is ended (a retry elsewhere wins).
    """
    if new_state not in FINISHED:
        raise BatchError(f"finish: state {new_state!r} is not one of d, e, k")
    new_state = JobState(new_state)
    j = t.jobs
    cond = [j.c.id == job_id, j.c.state.in_(ACTIVE)]
    if attempt is not None:
        cond.append(j.c.attempts == attempt)
    values: dict[str, Any] = {"state": new_state, "ended": _now(), "error": error}
    if command is not None:
        values["command"] = command
    with _db.write(project.archive.engine) as conn:
        return conn.execute(sa.update(j).where(*cond).values(**values)).rowcount > 0


def note(project: Project, job_id: int, error: str) -> None:
    """Record an error text on a row without changing its state (e.g. before a retry)."""
    with _db.write(project.archive.engine) as conn:
        conn.execute(sa.update(t.jobs).where(t.jobs.c.id == job_id).values(error=error))


def state(project: Project, job_id: int) -> JobState | None:
    """The row's state (None if the row is gone)."""
    with _db.read(project.archive.engine) as conn:
        value = conn.execute(sa.select(t.jobs.c.state).where(t.jobs.c.id == job_id)).scalar()
    return None if value is None else JobState(value)


def fail_active(project: Project, reason: str, *, run: str | None = None,
                ids: Iterable[int] | None = None) -> int:
    """Mark the still queued/running rows of a run (or of ``ids``) as errors."""
    j = t.jobs
    cond = [j.c.project_id == project.pk, j.c.state.in_(ACTIVE)]
    if run is not None:
        cond.append(j.c.batch == run)
    id_list = list(ids) if ids is not None else None
    n = 0
    with _db.write(project.archive.engine) as conn:
        for chunk in _chunks(id_list):
            extra = [j.c.id.in_(chunk)] if chunk is not None else []
            n += conn.execute(sa.update(j).where(*cond, *extra).values(
                state=JobState.ERROR, ended=_now(),
                error=sa.case((j.c.error.is_(None), reason),
                              else_=sa.literal(reason + "; earlier: ") + j.c.error))).rowcount
    return n


def _chunks(ids: list[T] | None) -> Iterable[list[T] | None]:
    if ids is None:
        yield None
        return
    for i in range(0, len(ids), _CHUNK):
        yield ids[i:i + _CHUNK]


def kill(project: Project, *, run: str | None = None, ids: Iterable[int] | None = None,
         units: Sequence[str] | None = None, name: str | None = None,
         level: str = "study") -> int:
    """Mark queued/running rows as killed; return how many.

    Workers poll their row and stop the job's processes when it turns ``k``. Give at
    least one of ``run`` (a run id), ``ids`` (row ids), ``units`` (PSIDs or subject
    ids) or ``name`` (a batch name); several narrow it down.
    """
    project._require("editor", "killing jobs")
    if run is None and ids is None and units is None and name is None:
        raise BatchError("kill: say what to kill (run=, ids=, units= or name=)")
    j = t.jobs
    cond = [j.c.project_id == project.pk, j.c.state.in_(ACTIVE)]
    if run is not None:
        cond.append(j.c.batch == run)
    if name is not None:
        cond.append(j.c.name == name)
    id_list = list(ids) if ids is not None else None
    n = 0
    with _db.write(project.archive.engine) as conn:
        if units is not None:
            pks = _unit_pks(conn, project, level, units)
            keys = [p[0] if level == "study" else p[1] for p in pks]
            cond.append(_unit_col(level).in_(keys))
        for chunk in _chunks(id_list):
            extra = [j.c.id.in_(chunk)] if chunk is not None else []
            n += conn.execute(sa.update(j).where(*cond, *extra).values(
                state=JobState.KILLED, ended=_now(),
                error=f"killed by {project.archive.user}")).rowcount
    return n


#: columns :func:`table` can order by, and what they sort on
_ORDER = ("id", "unit", "batch", "run", "state", "attempts", "user", "submitted", "started",
          "ended", "worker", "error")


def table(project: Project, *, run: str | None = None, name: str | None = None,
          states: str | None = None, ids: Sequence[int] | None = None,
          studies: Sequence[str] | None = None,
          contains: Mapping[str, str] | None = None, order_by: str = "id",
          descending: bool = True, limit: int | None = None) -> pd.DataFrame:
    """The jobs of a project (NORA's Gridstats), newest first.

    Parameters
    ----------
    run, name, states, ids
        Only the rows of this batch run, batch name, state letters (``"qr"``) or job ids.
    studies
        Only the rows of these studies (PSIDs) and the subject-level rows of their
        subjects.
    contains
        Case-insensitive substrings of ``"user"``, ``"batch"`` and ``"unit"`` (the psid,
        or the subject of a subject-level row), all of which must match.
    order_by, descending
        The column to order by (one of the result's columns but ``psid``, ``subject``,
        ``log``, ``command``); empty values last either way, then newest first.
    limit
        At most this many rows (filtered, ordered and cut by the database).

    Returns
    -------
    pandas.DataFrame
        Columns ``id, unit, psid, subject, batch, run, state, attempts, submitted,
        started, ended, worker, log, error, user, command``; ``psid`` is empty for
        subject-level rows.
    """
    import pandas as pd

    j, s, sub = t.jobs, t.studies, t.subjects
    unit = sa.func.coalesce(s.c.psid, sub.c.subject_id)
    q = (sa.select(j.c.id, unit.label("unit"), sa.func.coalesce(s.c.psid, "").label("psid"),
                   sub.c.subject_id.label("subject"), j.c.name.label("batch"),
                   j.c.batch.label("run"), j.c.state, j.c.attempts, j.c.submitted, j.c.started,
                   j.c.ended, j.c.worker, j.c.log, j.c.error, j.c.user_name.label("user"),
                   j.c.command)
         .select_from(j.join(sub, sub.c.id == j.c.subject).outerjoin(s, s.c.id == j.c.study))
         .where(j.c.project_id == project.pk))
    if run is not None:
        q = q.where(j.c.batch == run)
    if name is not None:
        q = q.where(j.c.name == name)
    if states:
        q = q.where(j.c.state.in_(sorted(set(states))))
    if ids is not None:
        q = q.where(j.c.id.in_(list(ids)))
    if studies is not None:
        psids = list(dict.fromkeys(studies))
        subjects = list(dict.fromkeys(p.partition("#")[0] for p in psids))
        q = q.where(sa.or_(s.c.psid.in_(psids),
                           sa.and_(j.c.study.is_(None), sub.c.subject_id.in_(subjects))))
    columns = {"user": j.c.user_name, "batch": j.c.name, "unit": unit}
    for key, text in (contains or {}).items():
        if key not in columns:
            raise FilterSyntaxError(
                f"contains: unknown key {key!r}; expected one of {sorted(columns)}")
        if str(text or "").strip():
            q = q.where(sa.func.lower(sa.func.coalesce(columns[key], "")).contains(
                str(text).strip().lower(), autoescape=True))
    if order_by not in _ORDER:
        raise FilterSyntaxError(f"order_by {order_by!r}: expected one of {list(_ORDER)}")
    if order_by != "id":
        col: Any = {"unit": unit, "batch": j.c.name, "run": j.c.batch,
                    "user": j.c.user_name}.get(order_by, getattr(j.c, order_by, None))
        q = q.order_by((col.desc() if descending else col.asc()).nulls_last())
        q = q.order_by(j.c.id.desc())
    else:
        q = q.order_by(j.c.id.desc() if descending else j.c.id.asc())
    if limit is not None:
        q = q.limit(int(limit))
    with _db.read(project.archive.engine) as conn:
        return pd.DataFrame(conn.execute(q).all(), columns=list(q.selected_columns.keys()))


def count(project: Project) -> int:
    """How many job rows the project has."""
    with _db.read(project.archive.engine) as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t.jobs)
                                .where(t.jobs.c.project_id == project.pk)).scalar_one())


def study_states(project: Project, psids: Sequence[str]) -> dict[str, dict[str, str]]:
    """``{psid: {batch name: state letter}}``: the newest job of each batch per study.

    Only the given studies' rows are read (the study table asks for one page), through
    the ``(study, state)`` index.
    """
    if not psids:
        return {}
    j, s = t.jobs, t.studies
    out: dict[str, dict[str, str]] = {}
    with _db.read(project.archive.engine) as conn:
        for chunk in _chunks(list(psids)):
            assert chunk is not None
            rows = conn.execute(
                sa.select(s.c.psid, j.c.name, j.c.state).join(s, s.c.id == j.c.study)
                .where(s.c.project_id == project.pk, s.c.psid.in_(chunk))
                .order_by(j.c.id.desc())).all()
            for psid, name, state_ in rows:
                out.setdefault(psid, {}).setdefault(str(name), str(state_))
    return out


def reap(project: Project) -> int:
    """Mark rows whose launching process on this host has ended as errors.

    A batch run's Dask scheduler lives in the process that launched it; when that
    process dies (a killed kernel, a closed terminal) its queued and running rows could
    otherwise stay active forever. Returns how many rows were marked.
    """
    j = t.jobs
    host = socket.gethostname()
    with _db.read(project.archive.engine) as conn:
        rows = conn.execute(sa.select(j.c.id, j.c.spec).where(
            j.c.project_id == project.pk, j.c.state.in_(ACTIVE))).all()
    dead: dict[str, list[int]] = {}
    for r in rows:
        launcher = (r.spec or {}).get("launcher", "")
        h, _, pid = launcher.rpartition(":")
        if h == host and pid.isdigit() and not _alive(int(pid)):
            dead.setdefault(launcher, []).append(r.id)
    n = 0
    for launcher, ids in dead.items():
        n += fail_active(project, f"the process that launched this batch ({launcher}) "
                                  "ended before the job finished", ids=ids)
    return n


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True

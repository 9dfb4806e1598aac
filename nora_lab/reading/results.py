"""Reading results in the archive database, and as a table (DataFrame / CSV).

One row per read item. In a DataFrame the answers become columns ``answer.<item>`` and
the annotation references ``annotation.<item>`` (archive paths relative to the study);
checkbox answers are lists, written to CSV as JSON so that :func:`read_csv` gives the
same table back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

from nora_lab.archive.transactions import read_transaction, write_transaction

from ._tables import reading_results as rr
from .forms import Form

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.archive.project import Project

__all__ = ["to_frame", "write_csv", "read_csv", "COLUMNS"]

#: the fixed columns of a results table, before ``answer.*`` and ``annotation.*``
COLUMNS = ["reading", "mode", "reader", "entered_by", "psid", "stage", "stage_name",
           "repetition", "position", "session", "started", "ended", "seconds"]


# --- storage (used by Reading / ReadingSession) ---------------------------------------

def save(project: Project, row: dict[str, Any]) -> None:
    """Write one result, replacing an earlier answer to the same item."""
    key = ("project_id", "reading", "mode", "reader", "psid", "stage", "repetition")
    for attempt in (1, 2):
        try:
            with write_transaction(project) as conn:
                conn.execute(sa.delete(rr).where(*(rr.c[k] == row[k] for k in key)))
                conn.execute(sa.insert(rr).values(**row))
            return
        except sa.exc.IntegrityError:
            # joint mode: another user stored the same item between our delete and insert;
            # the retry's delete sees their row (last answer wins)
            if attempt == 2:
                raise


def fetch(project: Project, reading: str, *, mode: str | None = None,
          readers: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Stored results, ordered by mode, reader and reading position."""
    q = sa.select(rr).where(rr.c.project_id == project.pk, rr.c.reading == reading)
    if mode is not None:
        q = q.where(rr.c.mode == mode)
    if readers is not None:
        q = q.where(rr.c.reader.in_(list(readers)))
    q = q.order_by(rr.c.mode, rr.c.reader, rr.c.repetition, rr.c.position, rr.c.stage)
    with read_transaction(project) as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def delete(project: Project, reading: str, mode: str, reader: str) -> int:
    """Delete one reader's results of one mode; returns how many rows went."""
    with write_transaction(project) as conn:
        res = conn.execute(sa.delete(rr).where(rr.c.project_id == project.pk,
                                               rr.c.reading == reading, rr.c.mode == mode,
                                               rr.c.reader == reader))
        return int(res.rowcount or 0)


def delete_reading(project: Project, reading: str) -> None:
    """Delete every result of a reading."""
    with write_transaction(project) as conn:
        conn.execute(sa.delete(rr).where(rr.c.project_id == project.pk,
                                         rr.c.reading == reading))


# --- tables ----------------------------------------------------------------------------

def to_frame(rows: list[dict[str, Any]], form: Form,
             stage_names: list[str] | None = None) -> pd.DataFrame:
    """Result rows as a flat DataFrame (see the module docstring)."""
    qs = [it.name for it in form.questions]
    ans = [it.name for it in form.annotations]
    recs = []
    for r in rows:
        rec = {c: r.get(c) for c in COLUMNS}
        rec["stage_name"] = (
            stage_names[r["stage"]] if stage_names and r["stage"] < len(stage_names)
                             else str(r["stage"]))
        answers = r.get("answers") or {}
        annotations = r.get("annotations") or {}
        rec.update({f"answer.{q}": answers.get(q) for q in qs})
        rec.update({f"annotation.{a}": annotations.get(a) for a in ans})
        recs.append(rec)
    cols = COLUMNS + [f"answer.{q}" for q in qs] + [f"annotation.{a}" for a in ans]
    df = pd.DataFrame.from_records(recs, columns=cols)
    for c in ("started", "ended"):
        df[c] = pd.to_datetime(df[c])
    for c in ("stage", "repetition", "position"):
        df[c] = df[c].astype("int64")
    df["seconds"] = df["seconds"].astype("float64")
    return df


def _cell(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, list | dict) else v


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a results table as CSV (lists as JSON); atomically (temp name, then rename)."""
    path = Path(path)
    out = df.copy()
    for c in out.columns:
        if c.startswith(("answer.", "annotation.")):
            out[c] = out[c].map(_cell)
    tmp = path.with_name(f".nora-tmp-{path.name}")
    out.to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%S.%f")
    tmp.replace(path)
    return path


def read_csv(path: str | Path, form: Form) -> pd.DataFrame:
    """Read a CSV written by :func:`write_csv` back into the same table."""
    df = pd.read_csv(path, dtype={"psid": str, "reader": str, "entered_by": str, "session": str,
                                  "stage_name": str, "reading": str, "mode": str},
                     keep_default_na=False, na_values={"seconds": [""]})
    for c in ("started", "ended"):
        df[c] = pd.to_datetime(df[c])
    for it in form.questions:
        col = f"answer.{it.name}"
        if col in df:
            df[col] = [_parse(it, v) for v in df[col]]
    for it in form.annotations:
        col = f"annotation.{it.name}"
        if col in df:
            df[col] = [None if v == "" else v for v in df[col]]
    df["session"] = [None if v == "" else v for v in df["session"]]
    return df


def _parse(it, v: Any) -> Any:  # noqa: ANN001
    if v == "" or v is None:
        return [] if it.type == "checkbox" else None
    if it.type == "checkbox":
        return json.loads(v)
    if it.type == "likert":
        return int(float(v))
    if it.type in ("number", "slider"):
        f = float(v)
        return int(f) if f == int(f) and "." not in str(v) else f
    if it.type in ("radio", "select"):
        for value in it.values:  # give back the option's own type (numbers stay numbers)
            if str(value) == str(v):
                return value
    return str(v)


def utcnow() -> datetime:
    """Now in UTC, naive (as stored)."""
    from datetime import UTC

    return datetime.now(UTC).replace(tzinfo=None)

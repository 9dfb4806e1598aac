"""Association journals: which series an association in progress writes to.

Each association that stores something keeps ``<incoming>/.assoc/<id>.open``: a header
(calling and called AE titles, when it began, the writing process's pid and start time)
written atomically with the first series, then one line per further series. A normal
release deletes it; anything else turns its series into holds (see :mod:`.incoming`).
A journal whose process is gone — a killed node or pull — is found by :func:`alive`.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from nora_lab.archive.pacs._files import atomic_write, safe_uid

__all__ = ["Journal", "read_journal", "alive"]


class Journal:
    """The series one association has written to (``.assoc/<id>.open``)."""

    def __init__(self, incoming: Any, calling: str, called: str) -> None:
        self.incoming = incoming
        self.calling, self.called = calling, called
        self.path = incoming.root / ".assoc" / f"{uuid.uuid4().hex}.open"
        self.series: set[tuple[str, str, str]] = set()
        self.instances = 0
        self.begun = time.strftime("%Y-%m-%d %H:%M:%S")

    def touch(self, project: str, study_uid: str, series_uid: str) -> None:
        """Note that this association writes to a series (once per series)."""
        key = (project, study_uid, series_uid)
        self.instances += 1
        if key in self.series:
            return
        self.series.add(key)
        line = json.dumps(key) + "\n"
        if len(self.series) == 1:  # header and first series appear at once (rename)
            header = json.dumps({"calling": self.calling, "called": self.called,
                                 "begun": self.begun, "pid": os.getpid(),
                                 "start": _SELF_START}) + "\n"
            atomic_write(self.path, [(header + line).encode()])
        else:
            with open(self.path, "a") as fh:
                fh.write(line)

    def studies(self) -> set[tuple[str, str]]:
        return {(p, safe_uid(s)) for p, s, _ in self.series}

    def close(self) -> None:
        """Remove the journal without touching holds (a pull decides those itself)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def finish(self, ok: bool, reason: str = "") -> None:
        """Released normally (lift holds) or not (hold every series it touched)."""
        for project, study, ser in self.series:
            if ok:
                self.incoming.release(project, study, ser)
            else:
                self.incoming.hold(project, study, ser,
                                   f"association from {self.calling!r} {reason or 'aborted'} "
                                   f"after {self.instances} instance(s); the series may be "
                                   "incomplete — send it again, or release it")
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def read_journal(path: Path) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    info: dict[str, Any] = {}
    series = []
    with contextlib.suppress(OSError):
        for n, line in enumerate(path.read_text().splitlines()):
            try:
                item = json.loads(line)
            except ValueError:
                continue  # a line cut by the kill
            if n == 0 and isinstance(item, dict):
                info = item
            elif isinstance(item, list) and len(item) == 3:
                series.append(tuple(item))
    return info, series


def _proc_start(pid: int) -> str | None:
    """The start time of process ``pid`` (Linux ``/proc``), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


_SELF_START = _proc_start(os.getpid())


def alive(info: dict[str, Any]) -> bool:
    """Is the process that wrote a journal still running? A journal without a readable
    header (cut by a kill) counts as dead: its series are held."""
    pid = info.get("pid")
    if not isinstance(pid, int):
        return False
    if pid == os.getpid():
        return info.get("start") in (None, _SELF_START)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    start = info.get("start")
    return start is None or _proc_start(pid) in (None, start)

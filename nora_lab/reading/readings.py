"""A reading in a project: create, open, list, results for its admin.

>>> from nora_lab.reading import Reading                       # doctest: +SKIP
>>> Reading.create(proj, "lesions", config_json)               # project admin
>>> r = Reading.open(arc.project("demo"), "lesions")           # any right on the project
>>> s = r.session("serious"); s.current; s.submit({"lesion": "yes"})
>>> r.results()                                                # admin: every reader
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from nora_lab.errors import ConfigError, NotFoundError, PermissionDenied

from . import results as _results
from .config import MODES, ReadingConfig

__all__ = ["Reading", "list_readings"]

KIND = "reading"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
ROLES = ("reader", "editor", "admin")


def list_readings(project) -> pd.DataFrame:  # noqa: ANN001
    """The readings of a project with this user's progress (``done``/``total`` per mode)."""
    rows = []
    for name in project.list_json(KIND)["name"]:
        r = Reading.open(project, name)
        row: dict[str, Any] = {"reading": name}
        for mode in MODES:
            if r.config.modes[mode].enabled:
                done, total = r.session(mode, start=False).progress
                row[f"{mode}_done"], row[f"{mode}_total"] = done, total
        rows.append(row)
    return pd.DataFrame(rows)


class Reading:
    """One reading of a project, as seen by the project's current user.

    Raises
    ------
    nora_lab.errors.NotFoundError
        From ``archive.project(...)`` already when the user has no right on the project.
    """

    def __init__(self, project, name: str, config: ReadingConfig):  # noqa: ANN001
        self.project = project
        self.name = name
        self.config = config

    # --- lifecycle ------------------------------------------------------------------
    @classmethod
    def create(cls, project, name: str, config: Mapping[str, Any] | str,  # noqa: ANN001
               *, overwrite: bool = False) -> Reading:
        """Check and save a reading configuration (project admins only)."""
        if not _NAME.match(name or ""):
            raise ConfigError(f"reading name {name!r}: use letters, digits, '_', '.', '-' "
                              "(it becomes part of annotation file paths)")
        if project.role != "admin":
            raise PermissionDenied(f"creating reading {name!r} in project {project.name!r} needs "
                                   f"the project's admin role; {project.archive.user!r} is "
                                   f"{project.role}")
        cfg = ReadingConfig.from_json(name, config)
        exists = name in set(project.list_json(KIND)["name"])
        if exists and not overwrite:
            raise ConfigError(f"reading {name!r} exists in project {project.name!r}; "
                              "pass overwrite=True to replace its configuration")
        project.put_json(KIND, name, cfg.raw)
        return cls(project, name, cfg)

    @classmethod
    def open(cls, project, name: str) -> Reading:  # noqa: ANN001
        """Open a reading; needs a right on the project (any role)."""
        if project.role not in ROLES:
            raise PermissionDenied(
                f"user {project.archive.user!r} has no right on {project.name!r}")
        try:
            raw = project.get_json(KIND, name)
        except NotFoundError:
            names = list(project.list_json(KIND)["name"])
            raise NotFoundError(f"no reading {name!r} in project {project.name!r} "
                                f"(readings: {names})") from None
        return cls(project, name, ReadingConfig.from_json(name, raw))

    def delete(self) -> None:
        """Delete the reading and all its results (admins only)."""
        self._require_admin("deleting a reading")
        _results.delete_reading(self.project, self.name)
        self.project.delete_json(KIND, self.name)

    def __repr__(self) -> str:
        return f"<Reading {self.name!r} in {self.project.name!r} as {self.user!r}>"

    @property
    def user(self) -> str:
        return self.project.archive.user

    @property
    def is_admin(self) -> bool:
        """The reading's admins are the project's admins."""
        return self.project.role == "admin"

    def _require_admin(self, what: str) -> None:
        if not self.is_admin:
            raise PermissionDenied(f"{what} of reading {self.name!r} needs the admin role on "
                                   f"project {self.project.name!r}; {self.user!r} is "
                                   f"{self.project.role}")

    # --- reading --------------------------------------------------------------------
    def session(self, mode: str = "serious", **kwargs: Any):  # noqa: ANN201
        """Start (or resume) this user's reading in ``mode``: a :class:`ReadingSession`."""
        from .session import ReadingSession

        return ReadingSession(self, mode, **kwargs)

    # --- results --------------------------------------------------------------------
    def results(self, mode: str | None = None, *, reader: str | None = None) -> pd.DataFrame:
        """Results as a DataFrame: every reader's for the admin, else the user's own."""
        readers = None
        if not self.is_admin:
            if reader not in (None, self.user):
                raise PermissionDenied(f"only the admin of reading {self.name!r} sees other "
                                       f"readers' results ({self.user!r} asked for {reader!r})")
            readers = [self.user, "joint"] if self.config.joint else [self.user]
        elif reader is not None:
            readers = [reader]
        rows = _results.fetch(self.project, self.name, mode=mode,
                              readers=readers)
        return _results.to_frame(rows, self.config.form, [s.name for s in self.config.stages])

    def export_csv(self, path: str | Path, mode: str | None = None) -> Path:
        """Write :meth:`results` as CSV (see :func:`nora_lab.reading.results.read_csv`)."""
        return _results.write_csv(self.results(mode), path)

    def progress(self) -> pd.DataFrame:
        """Per reader and mode: items done of the total (admin: everyone)."""
        df = self.results()
        rows = []
        for mode in MODES:
            if not self.config.modes[mode].enabled:
                continue
            total = self.session(mode, start=False).progress[1]
            sub = df[df["mode"] == mode]
            for reader, g in sub.groupby("reader"):
                rows.append({"mode": mode, "reader": reader, "done": len(g), "total": total,
                             "seconds": float(g["seconds"].sum())})
        return pd.DataFrame(rows, columns=["mode", "reader", "done", "total", "seconds"])

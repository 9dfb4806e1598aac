"""What the :class:`~nora_lab.archive.project.Project` mixins use of their host, for the
type checker only.

The mixins (``_tags``, ``_views``, ``_jsonstore``) derive from :class:`ProjectHost` when
type-checking and from ``object`` at run time, so that these declarations never shadow the
real methods in the method resolution order::

    if TYPE_CHECKING:
        from nora_lab.archive._host import ProjectHost
    else:
        ProjectHost = object
"""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.archive.archive import Archive

__all__ = ["ProjectHost"]


class ProjectHost(Protocol):
    """The attributes and helpers of a Project that its mixins rely on."""

    archive: Archive
    pk: int
    name: str
    role: str
    naming: str
    root: Path

    @property
    def _engine(self) -> sa.Engine: ...

    @property
    def can_see_identity(self) -> bool: ...

    def _require(self, role: str, what: str) -> None: ...

    def _study_row(self, conn: sa.Connection, psid: str) -> sa.Row: ...

    def _subject_pk(self, conn: sa.Connection, subject_id: str) -> int: ...

    def _file_ids(self, conn: sa.Connection,
                  targets: Iterable[str | int | PathLike]) -> list[int]: ...

    def study_dir(self, psid: str) -> Path: ...

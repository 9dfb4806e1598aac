"""The archive: projects, subjects, studies, files, tags and rights on SQLite or PostgreSQL.

>>> from nora_lab.archive import Archive
>>> arc = Archive.open()                 # doctest: +SKIP  ($NORA_HOME, as the current user)
>>> proj = arc.project("demo")           # doctest: +SKIP
>>> proj.studies({"files": "t1*/s0*.nii & STAG:control"})   # doctest: +SKIP

Names load on first use: a module of the archive that needs no database (the recipes, the
file layout) imports without SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nora_lab._lazy import lazy_names

__all__ = ["Archive", "Project", "NewFile", "FilePattern", "parse_filter", "split_psid"]

_WHERE = {"Archive": "archive", "Project": "project", "NewFile": "_files",
          "FilePattern": "patterns", "split_psid": "project"}

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.archive._files import NewFile
    from nora_lab.archive.archive import Archive
    from nora_lab.archive.filters import parse as parse_filter
    from nora_lab.archive.patterns import FilePattern
    from nora_lab.archive.project import Project, split_psid

_lazy_getattr, __dir__ = lazy_names(__name__, _WHERE, __all__)


def __getattr__(name: str) -> object:
    if name == "parse_filter":  # exported under another name than its module's
        from nora_lab.archive.filters import parse

        globals()["parse_filter"] = parse
        return parse
    return _lazy_getattr(name)

"""The archive: projects, subjects, studies, files, tags and rights on SQLite or PostgreSQL.

>>> from nora_lab.archive import Archive
>>> arc = Archive.open()                 # doctest: +SKIP  ($NORA_HOME, as the current user)
>>> proj = arc.project("demo")           # doctest: +SKIP
>>> proj.studies({"files": "t1*/s0*.nii & STAG:control"})   # doctest: +SKIP
"""

from nora_lab.archive._files import NewFile
from nora_lab.archive.archive import Archive
from nora_lab.archive.filters import parse as parse_filter
from nora_lab.archive.patterns import FilePattern
from nora_lab.archive.project import Project, split_psid

__all__ = ["Archive", "Project", "NewFile", "FilePattern", "parse_filter", "split_psid"]

"""Where a file came from: the provenance a processing job stored with its output.

Every built-in job of the catalogue records, in the metadata of each file it writes, the
job, its arguments, the libraries and their versions, the batch run and study, and the
SHA-256 of every input file. :func:`provenance` reads it back and follows the inputs to
the jobs that made them::

    >>> provenance(proj, proj.study_dir("P001#S1") / "tissue/gm.nii.gz")   # doctest: +SKIP
    {'job': 'tissue_segment', 'library': 'antspyx', 'version': '0.6.3', ...,
     'inputs': [{'arg': 'image', 'file': 'P001/S1/derived/n4.nii.gz', 'sha256': '…',
                 'unchanged': True, 'provenance': {'job': 'n4', ...}}, ...]}

From the command line: ``nora -p P --provenance FILE``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nora_lab.archive.layout import sha256

if TYPE_CHECKING:
    from nora_lab.archive import Project

__all__ = ["provenance"]


def provenance(project: Project, path: str | os.PathLike, *, depth: int = 8) -> dict[str, Any] | None:
    """The provenance recorded for a file of the project, with its inputs' own.

    Parameters
    ----------
    project
        The project the file belongs to.
    path
        The file: absolute, or relative to the project's folder (``P001/S1/reg/x.h5``).
    depth
        How many generations of inputs to follow.

    Returns
    -------
    dict or None
        ``job, args, library, version, libraries, study, batch, run, created`` and
        ``inputs``: for each input ``arg, file, sha256``, ``path`` (absolute),
        ``unchanged`` (whether the file still has that checksum) and, where a job made
        it, its ``provenance``. None when the file was not written by a catalogue job.

    Raises
    ------
    NotFoundError
        If the file is not registered in the project.
    """
    p = Path(path)
    if not p.is_absolute():
        p = project.root / p
    record = (project.file_meta(p) or {}).get("provenance")
    if not isinstance(record, dict):
        return None
    out = dict(record)
    inputs = []
    for item in record.get("inputs", []):
        item = dict(item)
        src = Path(item.get("file", ""))
        src = src if src.is_absolute() else project.root / src
        item["path"] = str(src)
        item["unchanged"] = src.is_file() and sha256(src) == item.get("sha256")
        if depth > 0 and src.is_file():
            try:
                item["provenance"] = provenance(project, src, depth=depth - 1)
            except LookupError:  # an input that is not registered
                item["provenance"] = None
        inputs.append(item)
    out["inputs"] = inputs
    return out

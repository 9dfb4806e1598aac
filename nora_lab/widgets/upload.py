"""Upload from the desk: drop DICOM zips, NIfTI files or a BIDS zip onto a subject or the
project, see each upload's progress and its import report.

>>> up = Upload(proj)            # the desk shows one above its table    # doctest: +SKIP
>>> up.on_imported(lambda job: print(job["message"]))                  # doctest: +SKIP

The page sends each dropped file straight to the server extension's REST import
(``POST nora/api/import``, :mod:`nora_lab.server`), as ``curl`` would: the browser
streams the file (upload progress from the browser), the server checks it and imports
it in a worker process, and the page polls the job until it is done. The kernel never
holds the bytes. Where a file goes:

* a ``.zip`` of DICOM (``kind=dicom``): into the project by the headers' patient IDs,
  or — dropped onto a row of the study table — into that row's subject
  (``patients_id``);
* a ``.zip`` holding a ``dataset_description.json`` at its top (``kind=bids``): the
  BIDS import (:func:`nora_lab.archive.bids.import_bids`), subjects from the dataset;
* a ``.nii`` / ``.nii.gz`` (``kind=nifti``): dropped onto a subject's row, into that
  subject's study ``upload``; dropped elsewhere it is refused (a NIfTI has no subject).

Each job's state is mirrored in :attr:`Upload.jobs` (name, kind, target, state,
progress, message, studies, files); a finished job calls the :meth:`on_imported`
callbacks (the desk refreshes its table).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets as t

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.archive.project import Project

__all__ = ["Upload"]

_STATIC = Path(__file__).parent / "static"


class Upload(anywidget.AnyWidget):
    """A drop zone for one project (see the module docstring).

    Parameters
    ----------
    project
        The project uploads go to (the server checks the user's editor right).
    """

    _esm = _STATIC / "upload.js"
    project = t.Unicode("").tag(sync=True)
    #: one dict per upload, written by the page: name, kind, target, state (uploading,
    #: queued, running, done, failed, refused), progress (0–1), message, studies, files
    jobs = t.List(t.Dict()).tag(sync=True)

    def __init__(self, project: Project, **kwargs: Any) -> None:
        super().__init__(project=project.name, **kwargs)
        self._callbacks: list[Callable[[dict[str, Any]], Any]] = []
        self.on_msg(self._on_page)

    def on_imported(self, fn: Callable[[dict[str, Any]], Any]) -> None:
        """Call ``fn(job)`` when an upload's import has finished (done or failed)."""
        self._callbacks.append(fn)

    @property
    def finished(self) -> list[dict[str, Any]]:
        """The uploads whose import ended (done or failed), oldest first."""
        return [j for j in self.jobs if j.get("state") in ("done", "failed", "refused")]

    def _on_page(self, _w: Any, content: dict[str, Any], _buffers: Any) -> None:
        if content.get("type") == "finished":
            for fn in self._callbacks:
                fn(dict(content.get("job") or {}))

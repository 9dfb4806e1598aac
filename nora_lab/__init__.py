"""nora_lab: NORA's medical-imaging research tools, native to Jupyter.

The layers: :mod:`nora_lab.archive` (projects, studies, files, tags, rights, DICOM),
:mod:`nora_lab.imaging` (ROI pens, statistics, transforms, fibers),
:mod:`nora_lab.batch` (pipelines over studies on Dask) and :mod:`nora_lab.widgets`
(the desktop in JupyterLab).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nora_lab._lazy import lazy_names
from nora_lab.errors import NoraError

__version__ = "0.1.0"
__all__ = ["Archive", "NoraError", "desktop", "open_archive", "__version__"]

if TYPE_CHECKING:
    from nora_lab.archive import Archive
    from nora_lab.widgets.desk import desktop


# lazy: `import nora_lab` stays fast; nora_lab.desktop(project) is the whole desk
__getattr__, __dir__ = lazy_names(
    __name__, {"Archive": "nora_lab.archive", "desktop": "nora_lab.widgets.desk"}, __all__)


def open_archive(location=None, **kwargs) -> Archive:
    """Shorthand for :meth:`nora_lab.archive.Archive.open`."""
    from nora_lab.archive import Archive

    return Archive.open(location, **kwargs)

"""nora_lab's Jupyter widgets – the UI layer; they call the layers below, never SQL.

Names are imported lazily so ``import nora_lab`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nora_lab._lazy import lazy_names

__all__ = ["Viewer", "StudyTable", "Autoloader", "ROITool", "MarkerTool", "Desktop", "desktop",
           "BatchTool", "Gridstats", "job_state_badges", "PacsQuery",
           "ReadingWidget", "ReadingTool", "ReadingEditor", "FormPreview", "open_link", "share",
           "NavigationTool", "FiberTool", "Upload", "ObliqueMPR"]

_LAZY = {
    "Viewer": "nora_lab.widgets.viewer",
    "StudyTable": "nora_lab.widgets.table",
    "Autoloader": "nora_lab.widgets.autoloader",
    "ROITool": "nora_lab.widgets.roitool",
    "MarkerTool": "nora_lab.widgets.markertool",
    "Desktop": "nora_lab.widgets.desk",
    "desktop": "nora_lab.widgets.desk",
    "BatchTool": "nora_lab.widgets.batchtool",
    "Gridstats": "nora_lab.widgets.gridstats",
    "job_state_badges": "nora_lab.widgets.gridstats",
    "PacsQuery": "nora_lab.widgets.pacsquery",
    "ReadingWidget": "nora_lab.widgets.reading",
    "ReadingTool": "nora_lab.widgets.reading",
    "ReadingEditor": "nora_lab.widgets.reading",
    "FormPreview": "nora_lab.widgets.reading",
    "open_link": "nora_lab.widgets.links",
    "share": "nora_lab.widgets.links",
    "NavigationTool": "nora_lab.widgets.navtool",
    "FiberTool": "nora_lab.widgets.fibertool",
    "ObliqueMPR": "nora_lab.widgets.mprtool",
    "Upload": "nora_lab.widgets.upload",
}

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.widgets.autoloader import Autoloader
    from nora_lab.widgets.batchtool import BatchTool
    from nora_lab.widgets.desk import Desktop, desktop
    from nora_lab.widgets.fibertool import FiberTool
    from nora_lab.widgets.gridstats import Gridstats, job_state_badges
    from nora_lab.widgets.links import open_link, share
    from nora_lab.widgets.markertool import MarkerTool
    from nora_lab.widgets.mprtool import ObliqueMPR
    from nora_lab.widgets.navtool import NavigationTool
    from nora_lab.widgets.pacsquery import PacsQuery
    from nora_lab.widgets.reading import FormPreview, ReadingEditor, ReadingTool, ReadingWidget
    from nora_lab.widgets.roitool import ROITool
    from nora_lab.widgets.table import StudyTable
    from nora_lab.widgets.upload import Upload
    from nora_lab.widgets.viewer import Viewer


__getattr__, __dir__ = lazy_names(__name__, _LAZY, __all__)


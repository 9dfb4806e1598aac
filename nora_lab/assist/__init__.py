"""The ROI assistant: points, scribbles, boxes and lassos become a 3-D ROI.

NORA's ROI tool has an nnInteractive assistant; this is nora_lab's, beside the ROI tool
(:class:`~nora_lab.widgets.ROITool` shows it in the viewer). One session
(:class:`Assistant`) holds the image and the interactions; a backend behind one small
interface (:class:`Backend`) turns them into a proposal:

``cpu``
    classical, on a crop around the interactions, no weights (every machine);
``nninteractive`` / ``nninteractive-remote``
    nnInteractive on a local GPU, or the lab's shared server via ``nninteractive-client``;
``model``
    a trained :mod:`nora_lab.segment` model as the prior, corrected by the interactions.

The backend is chosen per lab in ``$NORA_HOME/assist.yaml`` and per call
(:func:`settings`).

>>> from nora_lab.assist import Assistant
>>> a = Assistant(t1_img, backend="cpu")                        # doctest: +SKIP
>>> a.add_point((92, 110, 80)); a.add_point((60, 100, 80), positive=False)  # doctest: +SKIP
>>> roi = a.result("wm")                                        # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nora_lab._lazy import lazy_names

__all__ = ["Assistant", "make_backend", "Backend", "Proposal", "Point", "Scribble", "Box",
           "Lasso", "CPUBackend", "NNInteractiveBackend", "NNInteractiveRemoteBackend",
           "ModelPriorBackend", "settings", "dice", "next_click", "dice_curve", "spread_clicks",
           "template_ventricle"]

_WHERE = {"Assistant": "session", "make_backend": "session", "Backend": "backend",
          "Proposal": "backend", "Point": "interactions", "Scribble": "interactions",
          "Box": "interactions", "Lasso": "interactions", "CPUBackend": "cpu",
          "NNInteractiveBackend": "nninteractive", "NNInteractiveRemoteBackend": "nninteractive",
          "ModelPriorBackend": "prior", "settings": "config", "dice": "evaluate",
          "next_click": "evaluate",
          "spread_clicks": "evaluate", "template_ventricle": "evaluate", "dice_curve": "evaluate"}

if TYPE_CHECKING:  # pragma: no cover
    from .backend import Backend, Proposal
    from .config import settings
    from .cpu import CPUBackend
    from .evaluate import dice, dice_curve, next_click, spread_clicks, template_ventricle
    from .interactions import Box, Lasso, Point, Scribble
    from .nninteractive import NNInteractiveBackend, NNInteractiveRemoteBackend
    from .prior import ModelPriorBackend
    from .session import Assistant, make_backend

__getattr__, __dir__ = lazy_names(__name__, _WHERE, __all__)

"""The ``cpu`` backend: classical interactive segmentation, no weights, no GPU.

Each interaction re-runs :func:`nora_lab.assist._classical.segment` with every mark so
far on a crop around them (see that module for the method).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from nora_lab.errors import ConfigError

from ._classical import Params, marks_of, segment
from .backend import Backend, Proposal
from .interactions import Interaction

__all__ = ["CPUBackend"]


class CPUBackend(Backend):
    """Random-walker / intensity-model segmentation on a crop around the interactions.

    Parameters
    ----------
    **settings
        The ``cpu`` section of ``assist.yaml`` (``margin_mm``, ``smoothing_mm``,
        ``max_classes``, ``adapt_mm``, …; see :class:`~nora_lab.assist._classical.Params`).
    """

    name = "cpu"

    def __init__(self, **settings: Any) -> None:
        super().__init__()
        known = {f.name for f in fields(Params)}
        bad = sorted(set(settings) - known)
        if bad:
            raise ConfigError(f"cpu assistant settings {bad} are unknown; known: "
                              f"{sorted(known)}")
        self.params = Params(**settings)
        self.interactions: list[Interaction] = []

    def add(self, interaction: Interaction) -> Proposal:
        image = self._image()
        marks = marks_of([*self.interactions, interaction], image.shape)
        self.interactions.append(interaction)
        if not (len(marks.pos) or len(marks.hint)):
            return Proposal.empty(image.shape)
        box, mask = segment(image, self.spacing, marks, self.params)
        return Proposal(image.shape, box, mask)

    def reset(self) -> None:
        self.interactions = []

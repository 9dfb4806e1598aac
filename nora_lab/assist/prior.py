"""The ``model`` backend: a trained segmentation model of the project as the prior,
corrected by the interactions.

The model (``nora_lab.segment``: a stored model's name with its project, a model file,
or a loaded :class:`~nora_lab.segment.Model`) predicts the structure ``label`` once per
image; every interaction then corrects that prior with the classical algorithm of the
``cpu`` backend: a positive mark outside the prior adds the region it points at, a
negative mark inside removes the region of the prior it points at.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nora_lab.errors import AssistError, BackendUnavailable, NoraError

from ._classical import Marks, Params, marks_of, segment
from .backend import Backend, Proposal
from .interactions import Interaction

__all__ = ["ModelPriorBackend"]


class ModelPriorBackend(Backend):
    """A segmentation model's prediction, corrected by clicks.

    Parameters
    ----------
    model : str, path or Model
        A model of :mod:`nora_lab.segment`: its name (then ``project`` is needed), a model
        file / bundle path, or a loaded model (anything with ``predict_rois`` and
        ``classes``).
    label : str
        The class of the model to start from (one of ``model.classes``).
    project : Project, optional
        Where a named model is stored.
    **settings
        The ``cpu`` settings used for the corrections.
    """

    name = "model"

    def __init__(self, model: Any = None, label: str | None = None, project: Any = None,
                 **settings: Any) -> None:
        super().__init__()
        if model is None or not label:
            raise BackendUnavailable(
                "model: the prior needs a segmentation model and the class to start from: "
                "set model.model and model.label in assist.yaml (or model=..., label=...); "
                "nora_lab.segment.list_models(project) lists the project's models")
        self._model_ref, self.label, self.project = model, label, project
        self._model: Any = None
        self.params = Params(**settings)
        self.prior = np.zeros((0, 0, 0), bool)
        self.interactions: list[Interaction] = []

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        ref = self._model_ref
        if hasattr(ref, "predict_rois"):
            self._model = ref
        else:
            from nora_lab import segment

            try:
                self._model = (segment.load_model(self.project, ref) if self.project is not None
                               else segment.load_model(ref))
            except NoraError as exc:
                raise BackendUnavailable(f"model: cannot load the prior model {ref!r}: "
                                         f"{exc}") from exc
        classes = tuple(getattr(self._model, "classes", ()))
        if self.label not in classes:
            raise AssistError(f"model: the model predicts {list(classes)}, not "
                              f"{self.label!r}; set model.label to one of them")
        return self._model

    def set_image(self, image: np.ndarray, affine: np.ndarray) -> None:
        import nibabel as nib

        model = self._load()
        super().set_image(image, affine)
        rois = model.predict_rois(nib.Nifti1Image(np.asarray(image), np.asarray(affine)))
        prior = np.asarray(rois[self.label]) != 0
        if prior.shape != np.shape(image):
            raise AssistError(f"model: the prior for {self.label!r} has shape {prior.shape}, "
                              f"the image {np.shape(image)}")
        self.prior = prior

    def add(self, interaction: Interaction) -> Proposal:
        image = self._image()
        self.interactions.append(interaction)
        marks = marks_of(self.interactions, image.shape)
        out = self.prior.copy()
        outside = marks.pos[~self.prior[tuple(marks.pos.T)]] if len(marks.pos) else marks.pos
        if len(outside):  # the prior missed this: add what the marks point at
            where = Marks(outside, marks.neg, marks.hint, marks.outlines)
            box, mask = segment(image, self.spacing, where, self.params)
            out[box] |= mask
        inside = marks.neg[out[tuple(marks.neg.T)]] if len(marks.neg) else marks.neg
        if len(inside):  # the prior has this wrong: remove the part the marks point at
            box, mask = segment(image, self.spacing, Marks(inside, marks.pos), self.params)
            out[box] &= ~(mask & out[box])
        return Proposal.from_mask(out)

    def reset(self) -> None:
        self.interactions = []

"""Segmentation models: train on the project's own ROIs, apply to the cohort, evaluate.

Built on PyTorch and MONAI (the optional extra ``nora_lab[segment]``); beside imaging,
using the archive (models are stored in the project), the batch engine (training and
applying are batch jobs, locally or on Slurm) and the reading tool's Dice/Hausdorff.

>>> from nora_lab import segment
>>> run = segment.train(proj, "tissue", images="2_T1*/s0*.nii",
...                     labels={"gm": "rois/gm.nii.gz", "wm": "rois/wm.nii.gz"},
...                     studies=labelled, epochs=20)            # doctest: +SKIP
>>> run.watch()                        # progress bar + live curve        # doctest: +SKIP
>>> segment.apply(proj, "tissue", filters={"files": "!seg/tissue"})      # doctest: +SKIP
>>> segment.evaluate(proj, "tissue")   # Dice, Hausdorff per study/class # doctest: +SKIP
>>> segment.list_models(proj)                                            # doctest: +SKIP

The prior API (for tools such as an ROI assistant)::

    model = segment.load_model(proj, "tissue")      # or a .ts / .onnx / bundle path
    labels = model.predict(nib.load(t1))            # uint8 array on the image's grid
    model.classes                                   # ('gm', 'wm'): value k = classes[k-1]
    masks = model.predict_rois(nib.load(t1))        # {'gm': bool array, 'wm': ...}

Modules: ``config`` (ModelConfig), ``data`` (studies → volumes, grid checks),
``network`` (the UNet, device, resampling), ``training`` (the loop a worker runs),
``trainer`` (train as a batch job, TrainingRun), ``inference`` (sliding windows),
``model`` (Model, load_model: nora / TorchScript / ONNX / MONAI bundle), ``store``
(the model's record and folder), ``jobs`` (the ``segment_apply`` job, apply, import_model),
``evaluation``. Names load on first use: ``import nora_lab.segment`` imports no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nora_lab._lazy import lazy_names

__all__ = ["ModelConfig", "Model", "load_model", "train", "TrainingRun", "apply",
           "import_model", "evaluate", "list_models", "describe", "delete_model"]

_WHERE = {"ModelConfig": "config", "Model": "model", "load_model": "model",
          "train": "trainer", "TrainingRun": "trainer", "apply": "jobs",
          "import_model": "jobs", "evaluate": "evaluation", "list_models": "store",
          "describe": "store", "delete_model": "store"}

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.segment.config import ModelConfig
    from nora_lab.segment.evaluation import evaluate
    from nora_lab.segment.jobs import apply, import_model
    from nora_lab.segment.model import Model, load_model
    from nora_lab.segment.store import delete_model, describe, list_models
    from nora_lab.segment.trainer import TrainingRun, train


__getattr__, __dir__ = lazy_names(__name__, _WHERE, __all__)

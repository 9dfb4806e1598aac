"""A model's configuration: its inputs, classes, network and training schedule.

>>> cfg = ModelConfig(images=("t1*/s0*.nii",), labels={"gm": "rois/gm.nii.gz",
...                   "wm": "rois/wm.nii.gz"})
>>> cfg.classes
('gm', 'wm')
>>> ModelConfig.from_dict(cfg.to_dict()) == cfg
True

Stored with the model (``config`` in its record and ``config.json`` in its folder), so a
model trained elsewhere in the project is applied the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nora_lab.errors import SegmentError

__all__ = ["ModelConfig"]


@dataclass(frozen=True)
class ModelConfig:
    """How a segmentation model reads its studies and how it is trained.

    Parameters
    ----------
    images
        File patterns of the input contrasts, one per channel, in order
        (``("t1*/s0*.nii",)``).
    labels
        Either ``{class: pattern}`` (one binary ROI file per class, the order gives the
        label values 1, 2, …) or one pattern of a label map whose values 1…K are the
        classes named by ``classes``.
    classes
        Class names of a label map (ignored with ROI files: their keys are the names).
    spacing
        Voxel size (mm) the network works at: images are resampled to it and predictions
        brought back onto the image's own grid.
    patch
        Patch size (voxels at ``spacing``) for training and sliding-window inference.
    batch_size
        Patches per training step.
    channels, strides, res_units
        The MONAI UNet: features per level, downsampling per level, residual units.
    epochs, steps_per_epoch
        The schedule; validation (Dice per class) after each epoch.
    learning_rate
        Adam's learning rate.
    validation
        Fraction (0–1) or number of studies held out for validation.
    seed
        Seeds the split, the patch sampling and the weights.
    device
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda[:n]"``.
    tta
        Average predictions over the flips of each axis (test-time augmentation).
    overlap
        Sliding-window overlap (0–1).
    """

    images: tuple[str, ...]
    labels: Mapping[str, str] | str
    classes: tuple[str, ...] = ()
    spacing: float = 2.0
    patch: tuple[int, int, int] = (48, 48, 48)
    batch_size: int = 4
    channels: tuple[int, ...] = (16, 32, 64)
    strides: tuple[int, ...] = (2, 2)
    res_units: int = 1
    epochs: int = 10
    steps_per_epoch: int = 20
    learning_rate: float = 3e-3
    validation: float = 0.2
    seed: int = 0
    device: str = "auto"
    tta: bool = False
    overlap: float = 0.25
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        images = (self.images,) if isinstance(self.images, str) else tuple(self.images)
        object.__setattr__(self, "images", images)
        if not images:
            raise SegmentError("ModelConfig: give at least one image pattern (images=)")
        if isinstance(self.labels, Mapping):
            if not self.labels:
                raise SegmentError("ModelConfig: labels={} names no class; give "
                                   "{class: ROI pattern} or a label-map pattern")
            object.__setattr__(self, "labels", dict(self.labels))
            object.__setattr__(self, "classes", tuple(self.labels))
        elif not self.classes:
            raise SegmentError(f"ModelConfig: the label map {self.labels!r} needs classes= "
                               "(names of the values 1, 2, …)")
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "patch", _triple(self.patch, "patch"))
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "strides", tuple(int(s) for s in self.strides))
        if len(self.strides) != len(self.channels) - 1:
            raise SegmentError(f"ModelConfig: {len(self.channels)} channel levels need "
                               f"{len(self.channels) - 1} strides, got {self.strides}")
        step = 1
        for s in self.strides:
            step *= s
        if any(p % step for p in self.patch):
            raise SegmentError(f"ModelConfig: patch {self.patch} must be divisible by {step} "
                               f"(the product of strides {self.strides})")
        if self.spacing <= 0 or self.batch_size < 1 or self.epochs < 1:
            raise SegmentError("ModelConfig: spacing must be > 0, batch_size and epochs ≥ 1")

    @property
    def label_kind(self) -> str:
        """``"rois"`` (one file per class) or ``"labelmap"``."""
        return "rois" if isinstance(self.labels, Mapping) else "labelmap"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples as lists)."""
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        """The config from :meth:`to_dict`'s form; unknown keys are refused."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SegmentError(f"model config: unknown keys {sorted(unknown)} "
                               f"(known: {sorted(known)})")
        kw = dict(data)
        for key in ("images", "classes", "patch", "channels", "strides"):
            if key in kw and isinstance(kw[key], list):
                kw[key] = tuple(kw[key])
        return cls(**kw)

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def _triple(value: int | Sequence[int], name: str) -> tuple[int, int, int]:
    if isinstance(value, int):
        return (value, value, value)
    vals = tuple(int(v) for v in value)
    if len(vals) != 3:
        raise SegmentError(f"ModelConfig: {name} needs 3 sizes (or one), got {value!r}")
    return (vals[0], vals[1], vals[2])

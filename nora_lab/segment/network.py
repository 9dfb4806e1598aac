"""The network and the device: a MONAI 3-D UNet, on CUDA when there is one.

>>> net = build_network(cfg)          # doctest: +SKIP
>>> pick_device("auto")               # doctest: +SKIP
device(type='cpu')
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nora_lab.errors import SegmentError
from nora_lab.segment._deps import need
from nora_lab.segment.config import ModelConfig

__all__ = ["build_network", "pick_device", "normalize", "to_spacing", "label_to_spacing",
           "grid_shape"]


def build_network(config: ModelConfig) -> Any:
    """A ``monai.networks.nets.UNet`` for the config's contrasts and classes."""
    nets = need("monai.networks.nets")
    need("torch").manual_seed(config.seed)
    return nets.UNet(spatial_dims=3, in_channels=len(config.images),
                     out_channels=len(config.classes) + 1, channels=config.channels,
                     strides=config.strides, num_res_units=config.res_units)


def pick_device(device: str = "auto") -> Any:
    """The torch device: ``"auto"`` is CUDA when one is visible, else the CPU.

    Raises
    ------
    SegmentError
        If a CUDA device is asked for and none is visible (names ``CUDA_VISIBLE_DEVICES``).
    """
    import os

    torch = need("torch")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SegmentError(
            f"device {device!r}: no CUDA device is visible to torch {torch.__version__} "
            f"(CUDA build: {torch.version.cuda or 'no, a CPU-only build'}; "
            f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}); "
            "use device='cpu' or run on a GPU node (a Slurm partition with gres gpu)")
    return dev


def normalize(image: np.ndarray) -> np.ndarray:
    """Each contrast (C, X, Y, Z) scaled so its 1st–99th percentile of non-zero voxels
    is 0–1."""
    out = np.empty(image.shape, dtype=np.float32)
    for c, chan in enumerate(image):
        vals = chan[chan != 0]
        if vals.size == 0:
            out[c] = 0
            continue
        lo, hi = np.percentile(vals[:: max(1, vals.size // 200_000)], (1, 99))
        out[c] = (chan - lo) / max(float(hi - lo), 1e-6)
    return out


def grid_shape(shape: tuple[int, ...], zooms: tuple[float, ...], spacing: float) -> tuple[int, ...]:
    """The shape of a volume resampled from voxel sizes ``zooms`` to ``spacing`` mm."""
    return tuple(max(1, int(round(s * z / spacing))) for s, z in zip(shape, zooms, strict=True))


def to_spacing(image: Any, size: tuple[int, ...]) -> Any:
    """A (C, X, Y, Z) tensor resampled trilinearly to ``size`` (same field of view)."""
    torch = need("torch")
    if tuple(image.shape[1:]) == tuple(size):
        return image
    out = torch.nn.functional.interpolate(image[None], size=tuple(size), mode="trilinear",
                                          align_corners=False)
    return out[0]


def label_to_spacing(label: np.ndarray, n_classes: int, size: tuple[int, ...]) -> Any:
    """A label map resampled to ``size``: one-hot, averaged trilinearly, argmax
    (thin structures survive downsampling better than nearest neighbour)."""
    torch = need("torch")
    lab = torch.as_tensor(label.astype(np.int64))
    if tuple(lab.shape) == tuple(size):
        return lab[None].to(torch.uint8)
    onehot = torch.nn.functional.one_hot(lab, n_classes + 1).permute(3, 0, 1, 2).float()
    return to_spacing(onehot, size).argmax(0, keepdim=True).to(torch.uint8)

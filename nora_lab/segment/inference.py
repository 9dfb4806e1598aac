"""Sliding-window inference: the one path every model takes from an image to labels.

A network (a MONAI UNet trained here, a TorchScript module, an ONNX session, a MONAI
bundle's network) is a callable from a (B, C, x, y, z) patch tensor to (B, K+1, x, y, z)
logits. :func:`segment_volume` normalizes the contrasts, resamples them to the model's
spacing, runs ``monai.inferers.sliding_window_inference`` (optionally averaging the flips
of each axis), brings the class probabilities back onto the image's own grid and takes
the most likely class per voxel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nora_lab.segment._deps import need
from nora_lab.segment.network import grid_shape, normalize, to_spacing

__all__ = ["sliding_window", "segment_volume", "out_of_memory"]

#: the flips averaged with ``tta=True``: none, then each axis
FLIPS: tuple[tuple[int, ...], ...] = ((), (2,), (3,), (4,))


def sliding_window(net: Callable[[Any], Any], image: Any, patch: tuple[int, ...], *,
                   batch: int = 2, overlap: float = 0.25, tta: bool = False,
                   device: Any = None) -> Any:
    """Softmax probabilities (K+1, X, Y, Z) of a (C, X, Y, Z) tensor, window by window."""
    torch = need("torch")
    inferers = need("monai.inferers")
    x = image[None].to(device) if device is not None else image[None]
    flips = FLIPS if tta else ((),)
    total = None
    with torch.inference_mode():
        for dims in flips:
            xi = torch.flip(x, dims) if dims else x
            out = inferers.sliding_window_inference(xi, roi_size=patch, sw_batch_size=batch,
                                                    predictor=net, overlap=overlap,
                                                    mode="gaussian")
            prob = torch.softmax(out.float(), dim=1)
            prob = torch.flip(prob, dims) if dims else prob
            total = prob if total is None else total + prob
    assert total is not None
    return (total / len(flips))[0].cpu()


def segment_volume(net: Callable[[Any], Any], image: np.ndarray, zooms: tuple[float, ...], *,
                   spacing: float, patch: tuple[int, ...], overlap: float = 0.25,
                   tta: bool = False, device: Any = None, batch: int = 2) -> np.ndarray:
    """The label map (uint8, on the image's grid) of contrasts (C, X, Y, Z)."""
    torch = need("torch")
    shape = tuple(image.shape[1:])
    x = torch.as_tensor(normalize(image))
    x = to_spacing(x, grid_shape(shape, zooms, spacing))
    prob = sliding_window(net, x, patch, overlap=overlap, tta=tta, device=device, batch=batch)
    prob = to_spacing(prob, shape)
    return prob.argmax(0).numpy().astype(np.uint8)


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is torch running out of (GPU or CPU) memory."""
    torch = need("torch")
    seen: BaseException | None = exc
    while seen is not None:  # MONAI wraps a transform's error in its own RuntimeError
        if isinstance(seen, (MemoryError, getattr(torch, "OutOfMemoryError", MemoryError))):
            return True
        text = str(seen)
        if isinstance(seen, RuntimeError) and ("out of memory" in text
                                               or "can't allocate memory" in text):
            return True
        seen = seen.__cause__ or seen.__context__
    return False

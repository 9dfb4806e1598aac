"""How good the assistant is: Dice, a simulated user, the Dice-vs-clicks curve.

The simulated user is the usual protocol of interactive segmentation studies (RITM,
nnInteractive): each click goes to the voxel deepest inside the largest error, positive
where the proposal misses the object, negative where it overshoots.

>>> curve = dice_curve(lambda: Assistant(t1, backend="cpu"), reference, clicks=8)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = ["dice", "deepest", "spread_clicks", "next_click", "dice_curve", "template_ventricle"]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two masks (1.0 for two empty masks)."""
    a, b = np.asarray(a) != 0, np.asarray(b) != 0
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def deepest(mask: np.ndarray) -> tuple[int, int, int]:
    """The voxel of ``mask`` farthest from its outside (where a user clicks first)."""
    dist = ndimage.distance_transform_edt(np.pad(np.asarray(mask, bool), 1))[1:-1, 1:-1, 1:-1]
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(dist)), dist.shape))  # type: ignore[return-value]


def spread_clicks(mask: np.ndarray, n: int = 3, axis: int = 1) -> list[tuple[int, int, int]]:
    """A user's ``n`` clicks on a structure: the deepest voxel of each of ``n`` equal parts
    of ``mask`` along voxel ``axis``."""
    mask = np.asarray(mask, bool)
    idx = np.flatnonzero(mask.any(axis=tuple(i for i in range(3) if i != axis)))
    cuts = np.linspace(idx.min(), idx.max() + 1, n + 1).astype(int)
    out = []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        part = np.zeros_like(mask)
        sl: list[slice] = [slice(None)] * 3
        sl[axis] = slice(int(a), int(b))
        part[tuple(sl)] = mask[tuple(sl)]
        out.append(deepest(part))
    return out


def template_ventricle(t1: np.ndarray, gm: np.ndarray, wm: np.ndarray, affine: np.ndarray,
                       at_mm: tuple[float, float, float] = (-13.5, -14.2, 14.9),
                       dark: float = 0.4) -> np.ndarray:
    """A lateral ventricle of an MNI T1 template (intensities 0–1) and its GM/WM maps: the
    dark (< ``dark``) component 10 mm or more inside the brain nearest ``at_mm``
    (default: the left lateral ventricle of the MNI152 2009 template)."""
    brain = ndimage.binary_fill_holes(ndimage.binary_closing(gm + wm > 0.5, iterations=3))
    csf = (t1 < dark) & ndimage.binary_erosion(brain, iterations=10)
    labels, n = ndimage.label(csf)
    centres = np.array(ndimage.center_of_mass(csf, labels, range(1, n + 1)))
    world = centres @ affine[:3, :3].T + affine[:3, 3]
    return labels == int(np.argmin(np.linalg.norm(world - np.asarray(at_mm), axis=1))) + 1


def next_click(reference: np.ndarray, proposal: np.ndarray
               ) -> tuple[tuple[int, int, int], bool] | None:
    """``(voxel, positive)`` of the simulated user's next click; None when nothing is wrong."""
    ref, pred = np.asarray(reference, bool), np.asarray(proposal, bool)
    missed, extra = ref & ~pred, pred & ~ref
    if not (missed.any() or extra.any()):
        return None
    voxel = deepest(missed | extra)
    return voxel, bool(missed[voxel])


def dice_curve(new_assistant: Callable[[], Any], reference: np.ndarray, clicks: int = 8,
               first: list[tuple[tuple[int, int, int], bool]] | None = None
               ) -> list[dict[str, Any]]:
    """Dice after each simulated click: ``[{clicks, positive, negative, dice, seconds}]``.

    ``new_assistant()`` gives a fresh :class:`~nora_lab.assist.Assistant`; ``first``
    are clicks to start with (``(voxel, positive)``); then the simulated user clicks.
    """
    assistant = new_assistant()
    todo = list(first or [(deepest(reference), True)])
    rows = []
    for n in range(1, clicks + 1):
        if todo:
            voxel, positive = todo.pop(0)
        else:
            nxt = next_click(reference, assistant.mask())
            if nxt is None:
                break
            voxel, positive = nxt
        assistant.add_point(voxel, positive)
        kinds = [p.positive for p in assistant.interactions]
        rows.append({"clicks": n, "positive": sum(kinds), "negative": len(kinds) - sum(kinds),
                     "dice": dice(assistant.mask(), reference),
                     "seconds": assistant.latency})
    return rows

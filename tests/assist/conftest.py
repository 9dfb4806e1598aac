"""Data for the assistant's tests: small phantoms made here, and the demo brain.

The demo brain is demo subject 1's T1 as the demo cohort acquires it (its pose, bias
field, noise; ``nora_lab.demo``), with reference masks moved into the same pose: WM and
GM (the MNI152 probability maps > 0.5, as the demo's ROIs) and the left lateral
ventricle (the template's CSF component there, :func:`ventricle_from_template`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest


@dataclass(frozen=True)
class DemoBrain:
    t1: np.ndarray
    affine: np.ndarray
    wm: np.ndarray
    gm: np.ndarray
    ventricle: np.ndarray


def load_demo_brain() -> DemoBrain:
    """Demo subject 1's T1 and its WM, GM and left lateral ventricle masks."""
    from nora_lab.assist.evaluate import template_ventricle
    from nora_lab.demo.cohort import cohort
    from nora_lab.demo.scan import acquire, resample, scanner_grid
    from nora_lab.demo.templates import load_templates

    tpl = load_templates()
    subject = cohort()[0]
    grid = scanner_grid(tpl)
    t1 = acquire(subject, tpl, grid)

    def moved(volume: np.ndarray) -> np.ndarray:
        return resample(volume.astype(np.float32), tpl.affine, grid.affine, grid.shape,
                        subject.pose()) > 0.5

    vent = template_ventricle(tpl.t1, tpl.gm, tpl.wm, tpl.affine)
    return DemoBrain(t1, grid.affine, moved(tpl.wm), moved(tpl.gm), moved(vent))


@pytest.fixture(scope="session")
def demo_brain() -> DemoBrain:
    return load_demo_brain()


def phantom(kind: str = "mr", shape=(64, 64, 48), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(image, truth): a 9-voxel-radius ball in a textured surround, with a bright
    neighbour ball touching it through a 7-voxel-thick bridge.

    ``"ct"``: HU (ball 60 HU like liver, surround fat −100, neighbour bone 700, noise 12);
    ``"mr"``: arbitrary units with a bias field (ball 900, surround 500, neighbour 880).
    """
    rng = np.random.default_rng(seed)
    grid = np.indices(shape).astype(np.float32)
    centre = np.array([32, 30, 24], np.float32)[:, None, None, None]
    ball = ((grid - centre) ** 2).sum(0) <= 9**2
    other_c = np.array([32, 52, 24], np.float32)[:, None, None, None]
    other = ((grid - other_c) ** 2).sum(0) <= 8**2
    bridge = (np.abs(grid[0] - 32) <= 3) & (np.abs(grid[2] - 24) <= 3) & (grid[1] > 36) & (
        grid[1] < 46)
    if kind == "ct":
        img = np.full(shape, -100.0, np.float32)
        img[ball] = 60
        img[other] = 700
        img[bridge] = 60
        img += rng.normal(0, 12, shape).astype(np.float32)
        return np.rint(img).astype(np.int16), ball
    img = np.full(shape, 500.0, np.float32)
    img[ball | bridge] = 900
    img[other] = 880
    bias = np.exp(0.15 * (grid[0] / shape[0] - 0.5))
    img = img * bias + rng.normal(0, 20, shape).astype(np.float32)
    return np.clip(img, 0, None).astype(np.uint16), ball

"""Small synthetic volumes with hand-computable answers."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest


def sphere_image(shape=(40, 40, 40), voxel=(1.0, 1.0, 1.0), radius_mm=10.0, centre=None,
                 value=100.0):
    """A bright sphere of ``radius_mm`` (world distances) on a zero background."""
    vs = np.asarray(voxel, float)
    c = (np.asarray(shape) - 1) / 2 if centre is None else np.asarray(centre, float)
    idx = np.indices(shape, dtype=float)
    d2 = sum(((idx[a] - c[a]) * vs[a]) ** 2 for a in range(3))
    data = np.where(d2 <= radius_mm**2, value, 0.0).astype(np.float32)
    return nib.Nifti1Image(data, np.diag([*vs, 1.0]))


@pytest.fixture
def sphere():
    return sphere_image()


@pytest.fixture
def make_sphere():
    """Factory: ``make_sphere(shape, voxel, radius_mm, centre, value)``."""
    return sphere_image


@pytest.fixture
def ramp():
    """x-ramp on a 20³ 1 mm grid: value = world x (mm)."""
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    affine[:3, 3] = [-10, -10, -10]
    x = np.arange(20, dtype=np.float32) - 10
    data = np.broadcast_to(x[:, None, None], (20, 20, 20)).copy()
    return nib.Nifti1Image(data, affine)

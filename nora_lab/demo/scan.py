"""What the scanner makes of a subject: the template in the subject's pose on the
scanner's grid, times a bias field, with gain, offset and Rician noise.

The scanner grid is the same for every subject: axial slices at 1 mm covering the
cropped template (:mod:`nora_lab.demo.templates`), given in DICOM's patient
coordinates (LPS) as an origin plus unit steps along +x (columns), +y (rows) and +z
(slices). Resampling is :func:`scipy.ndimage.affine_transform` (trilinear).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .cohort import Subject
from .templates import Templates

__all__ = ["Grid", "scanner_grid", "acquire", "resample", "SIGNAL", "MAX_VALUE"]

#: the template's 0–1 scaled to this (white matter ≈ 870)
SIGNAL = 1000.0
#: 12-bit data, as most MR scanners store it
MAX_VALUE = 4095

#: LPS ↔ RAS
_FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class Grid:
    """An axial 1 mm grid: ``shape`` = (columns, rows, slices), ``origin_lps`` = the
    patient position (mm) of the first pixel of the first slice."""

    shape: tuple[int, int, int]
    origin_lps: tuple[float, float, float]

    @property
    def affine(self) -> np.ndarray:
        """Voxel (column, row, slice) → RAS mm (as a NIfTI affine)."""
        lps = np.eye(4)
        lps[:3, 3] = self.origin_lps
        return _FLIP @ lps


def scanner_grid(templates: Templates) -> Grid:
    """The grid covering the cropped template (the same for every subject)."""
    lo, hi = templates.world_box()
    # columns run to the patient's left (-x in RAS), rows to posterior (-y): the first
    # pixel is at the right-anterior corner of the lowest slice
    origin_lps = (-float(hi[0]), -float(hi[1]), float(lo[2]))
    return Grid(templates.shape, origin_lps)


def resample(volume: np.ndarray, affine: np.ndarray, grid_affine: np.ndarray,
             shape: tuple[int, ...], pose: np.ndarray, *, order: int = 1) -> np.ndarray:
    """``volume`` (voxel → MNI mm by ``affine``) moved by ``pose`` (MNI → scanner mm),
    sampled on the grid ``grid_affine``/``shape`` (voxel → scanner mm); 0 outside."""
    vox = np.linalg.inv(affine) @ np.linalg.inv(pose) @ grid_affine
    return ndimage.affine_transform(volume, vox[:3, :3], vox[:3, 3], output_shape=tuple(shape),
                                    order=order, mode="constant", cval=0.0, prefilter=False)


def _bias_field(subject: Subject, grid: Grid) -> np.ndarray:
    """exp(a polynomial of degree 2 in coordinates scaled to about ±1), float32."""
    axes = [np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in grid.shape]
    x, y, z = axes[0][:, None, None], axes[1][None, :, None], axes[2][None, None, :]
    cx, cy, cz, cxx, cyy, czz, cxy, cyz = subject.bias
    log = (cx * x + cxx * x * x) + (cy * y + cyy * y * y) + (cz * z + czz * z * z)
    log = log + cxy * x * y + cyz * y * z
    return np.exp(log, dtype=np.float32)


def acquire(subject: Subject, templates: Templates, grid: Grid) -> np.ndarray:
    """The subject's T1 on ``grid``: uint16 (columns, rows, slices), 0–:data:`MAX_VALUE`."""
    signal = resample(templates.t1, templates.affine, grid.affine, grid.shape, subject.pose())
    signal *= np.float32(SIGNAL * subject.gain)
    signal *= _bias_field(subject, grid)
    rng = np.random.default_rng(2000 + subject.number)
    sigma = np.float32(subject.noise)
    real = signal + sigma * rng.standard_normal(grid.shape, dtype=np.float32)
    imag = sigma * rng.standard_normal(grid.shape, dtype=np.float32)
    magnitude = np.hypot(real, imag) + np.float32(subject.offset)
    return np.clip(np.rint(magnitude), 0, MAX_VALUE).astype(np.uint16)

"""Deterministic tracking on direction and tensor fields."""

import nibabel as nib
import numpy as np
import pytest

from nora_lab.errors import ImagingError
from nora_lab.imaging import ROI, track_streamlines
from nora_lab.imaging.tracking import tensor_to_direction


def x_field(shape=(40, 10, 10)):
    d = np.zeros((*shape, 3), np.float32)
    d[..., 0] = 1
    fa = np.zeros(shape, np.float32)
    fa[10:31] = 0.8  # anisotropic between voxels 10 and 30
    return nib.Nifti1Image(d, np.eye(4)), fa


def test_tracking_follows_the_field_and_stops_at_the_fa_edge():
    field, fa = x_field()
    (sl,) = track_streamlines(field, np.array([[20.0, 5, 5]]), fa=fa, step_mm=0.5)
    assert np.allclose(sl[:, 1:], 5)
    # nearest-voxel FA: positions up to 30.5 (rounding half to even keeps 30.5 in voxel 30)
    assert sl[0, 0] == pytest.approx(9.5) and sl[-1, 0] == pytest.approx(30.5)
    assert np.allclose(np.diff(sl[:, 0]), 0.5)


def test_tracking_stops_at_a_sharp_turn():
    shape = (30, 30, 5)
    d = np.zeros((*shape, 3), np.float32)
    d[:15, ..., 0] = 1  # along x up to voxel 14 ...
    d[15:, ..., 1] = 1  # ... then along y: a 90 degree kink
    field = nib.Nifti1Image(d, np.eye(4))
    (sl,) = track_streamlines(field, np.array([[5.0, 10, 2]]), max_angle_deg=45, step_mm=1)
    assert sl[-1, 0] == pytest.approx(14) and np.allclose(sl[:, 1], 10)
    (bent,) = track_streamlines(field, np.array([[5.0, 10, 2]]), max_angle_deg=95, step_mm=1,
                                max_steps=50)
    assert bent[:, 1].max() > 20 or bent[:, 1].min() < 1  # follows the kink


def test_tensor_field_gives_direction_and_fa():
    t = np.zeros((20, 5, 5, 6), np.float32)
    t[..., 0], t[..., 3], t[..., 5] = 1.7e-3, 0.2e-3, 0.2e-3  # prolate along x
    v, fa = tensor_to_direction(t)
    assert np.allclose(np.abs(v[..., 0]), 1) and fa.min() > 0.8
    seeds = ROI(np.zeros((20, 5, 5)), np.eye(4))
    seeds.data[10, 2, 2] = True
    (sl,) = track_streamlines(nib.Nifti1Image(t, np.eye(4)), seeds, step_mm=1)
    assert sl[:, 0].min() == 0 and sl[:, 0].max() == 19


def test_tracking_bad_input():
    with pytest.raises(ImagingError, match="direction or"):
        track_streamlines(nib.Nifti1Image(np.zeros((3, 3, 3, 2), np.float32), np.eye(4)),
                          np.zeros((1, 3)))
    field, _ = x_field()
    with pytest.raises(ImagingError, match="FA shape"):
        track_streamlines(field, np.zeros((1, 3)), fa=np.zeros((2, 2, 2)))
    with pytest.raises(ImagingError, match="seeds"):
        track_streamlines(field, np.zeros(3))

"""The ROI: creation from a reference, NIfTI round trip, geometry."""

import nibabel as nib
import numpy as np
import pytest

from nora_lab.errors import ImagingError
from nora_lab.imaging import ROI


def test_empty_roi_has_the_reference_geometry(sphere):
    roi = ROI.from_reference(sphere, name="lesion")
    assert roi.shape == sphere.shape
    assert np.array_equal(roi.affine, sphere.affine)
    assert roi.count == 0 and roi.bbox() is None and roi.volume_ml == 0


def test_create_by_threshold_at_the_lower_window_limit(sphere):
    data = sphere.get_fdata()
    roi = ROI.from_reference(sphere, window=(50, 200))
    assert roi.count == int((data > 50).sum())
    assert ROI.from_reference(sphere, window=(150, 200)).count == 0
    assert ROI.from_reference(sphere, window=(150, 200), threshold=-1).count == data.size


def test_nifti_round_trip_is_uint8_with_the_same_affine(tmp_path, sphere):
    roi = ROI.from_reference(sphere, window=(50, 200), name="ball")
    img = roi.to_nifti()
    assert img.get_data_dtype() == np.uint8
    assert set(np.unique(np.asarray(img.dataobj))) == {0, 1}
    nib.save(img, tmp_path / "ball.nii.gz")
    back = ROI.from_nifti(tmp_path / "ball.nii.gz")
    assert back.name == "ball"
    assert np.array_equal(back.data, roi.data) and np.allclose(back.affine, roi.affine)


def test_a_2d_roi_is_one_slice_with_a_position_in_space():
    aff = np.diag([0.5, 0.5, 3.0, 1.0])
    aff[2, 3] = 42.0
    roi = ROI(np.ones((4, 6)), aff)
    assert roi.shape == (4, 6, 1)
    assert roi.centre_of_gravity()[2] == 42.0
    assert roi.volume_ml == pytest.approx(24 * 0.75 / 1000)


def test_centre_of_gravity_is_in_world_mm():
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    aff[:3, 3] = [-10, 0, 5]
    d = np.zeros((5, 5, 5), bool)
    d[1, 2, 3] = d[3, 2, 3] = True
    assert ROI(d, aff).centre_of_gravity().tolist() == [-6.0, 4.0, 11.0]


def test_bad_roi_input_is_refused():
    with pytest.raises(ImagingError, match="2D or 3D"):
        ROI(np.zeros((2, 2, 2, 2)), np.eye(4))
    with pytest.raises(ImagingError, match="empty"):
        ROI(np.zeros((3, 3, 3)), np.eye(4), name="void").centre_of_gravity()

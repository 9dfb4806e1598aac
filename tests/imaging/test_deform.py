"""Deformable transforms: Gaussian markers, dumped fields, keypoint pairs."""

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage as ndi

from nora_lab.errors import ImagingError
from nora_lab.imaging import Deformation, Grid, apply_transform


def test_a_marker_is_a_gaussian_displacement():
    d = Deformation()
    d.add([0, 0, 0], [3, 0, 0], size=5)
    disp = d.displacement(np.array([[0, 0, 0], [5, 0, 0], [100, 0, 0]]))
    assert np.allclose(disp[0], [3, 0, 0])
    assert np.allclose(disp[1], [3 * np.exp(-0.5), 0, 0])
    assert np.allclose(disp[2], 0)


def test_markers_add_up_and_dump_into_a_field_that_can_be_extended():
    d = Deformation()
    d.add([0, 0, 0], [1, 0, 0], 4)
    d.add([0, 0, 0], [0, 2, 0], 4)
    grid = Grid((11, 11, 11),
                np.array([[1, 0, 0, -5], [0, 1, 0, -5], [0, 0, 1, -5], [0, 0, 0, 1.0]]))
    d.dump(grid)
    assert d.markers == [] and d.field_data.shape == (11, 11, 11, 3)
    assert np.allclose(d.displacement([[0, 0, 0]]), [[1, 2, 0]], atol=1e-6)
    d.add([0, 0, 0], [0, 0, -1], 4)
    assert np.allclose(d.displacement([[0, 0, 0]]), [[1, 2, -1]], atol=1e-6)
    assert np.allclose(d.displacement([[50, 0, 0]]), 0)  # field is 0 outside its grid


def test_keypoint_pairs_map_every_source_onto_its_target():
    rng = np.random.default_rng(3)
    src = rng.uniform(-20, 20, (6, 3))
    tgt = src + rng.uniform(-3, 3, (6, 3))
    d = Deformation.from_keypoints(src, tgt, size=10)
    # pull-back: the warped image at a target shows the source
    assert np.allclose(tgt - d.displacement(tgt), src, atol=1e-8)


def test_warping_moves_a_blob_by_the_marker_vector():
    data = np.zeros((40, 40, 40), np.float32)
    data[20, 20, 20] = 1
    data = ndi.gaussian_filter(data, 2)
    img = nib.Nifti1Image(data, np.eye(4))
    d = Deformation()
    d.add([22, 20, 20], [2, 0, 0], size=12)
    (out,) = apply_transform(img, deformation=d, grid=img)
    com = ndi.center_of_mass(np.nan_to_num(np.asarray(out.dataobj)))
    assert com[0] == pytest.approx(22, abs=0.15) and com[1] == pytest.approx(20, abs=1e-3)


def test_field_nifti_round_trip():
    d = Deformation()
    d.add([0, 0, 0], [1, 1, 0], 3)
    d.dump(Grid((5, 5, 5), np.eye(4)))
    back = Deformation.from_nifti(d.to_nifti())
    assert np.allclose(back.displacement([[1, 1, 1]]), d.displacement([[1, 1, 1]]))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: Deformation().add([0, 0], [1, 0, 0], 1), "centre"),
        (lambda: Deformation().add([0, 0, 0], [1, 0, 0], 0), "size"),
        (lambda: Deformation.from_keypoints(np.zeros((2, 3)), np.zeros((3, 3)), 5), "one to one"),
        (lambda: Deformation.from_keypoints(np.zeros((2, 3)), np.zeros((2, 3)), 5), "coincide"),
        (lambda: Deformation().to_nifti(), "dump"),
        (lambda: Deformation.from_nifti(nib.Nifti1Image(np.zeros((2, 2, 2, 2), np.float32),
                                                        np.eye(4))),
         "X, Y, Z, 3"),
    ],
)
def test_deformation_bad_input(call, match):
    with pytest.raises(ImagingError, match=match):
        call()

"""Rigid/affine transforms and applying them onto a chosen grid."""

import nibabel as nib
import numpy as np
import pytest

from nora_lab.errors import ImagingError
from nora_lab.imaging import (
    Grid,
    apply_transform,
    compose,
    move_image,
    rotation,
    scaling,
    translation,
)


def test_rotation_follows_the_right_hand_rule():
    r = rotation([0, 0, 90])
    assert np.allclose(r @ [1, 0, 0, 1], [0, 1, 0, 1])
    assert np.allclose(rotation([90, 0, 0]) @ [0, 1, 0, 1], [0, 0, 1, 1])
    assert np.allclose(rotation([0, 90, 0]) @ [0, 0, 1, 1], [1, 0, 0, 1])


def test_rotation_and_scaling_around_a_centre_keep_the_centre():
    c = [10, -5, 3]
    assert np.allclose(rotation([20, 30, 40], centre=c) @ [*c, 1], [*c, 1])
    assert np.allclose(scaling(2, centre=c) @ [*c, 1], [*c, 1])
    assert np.allclose(scaling([2, 3, 4]) @ [1, 1, 1, 1], [2, 3, 4, 1])


def test_compose_applies_in_argument_order():
    t, r = translation([5, 0, 0]), rotation([0, 0, 90])
    assert np.allclose(compose(t, r) @ [0, 0, 0, 1], [0, 5, 0, 1])  # shift, then rotate
    assert np.allclose(compose(r, t) @ [0, 0, 0, 1], [5, 0, 0, 1])


def test_translation_by_whole_voxels_shifts_the_data():
    data = np.random.default_rng(0).random((10, 10, 10)).astype(np.float32)
    img = nib.Nifti1Image(data, np.eye(4))
    (out,) = apply_transform([img], translation([2, 0, 0]), grid=0)
    v = np.asarray(out.dataobj)
    assert np.allclose(v[2:], data[:8]) and np.isnan(v[:2]).all()


def test_world_grid_holds_all_moved_images_at_the_voxel_size():
    a = nib.Nifti1Image(np.ones((10, 10, 10), np.float32), np.eye(4))
    b = nib.Nifti1Image(np.full((10, 10, 10), 2, np.float32), np.eye(4))
    out = apply_transform([a, b], translation([10, 0, 0]), grid="world", voxel_size=2, moving=[1])
    g = Grid.from_image(out[0])
    assert g.shape == (10, 5, 5) and np.allclose(g.voxel_sizes, 2)
    va, vb = (np.asarray(o.dataobj) for o in out)
    assert np.allclose(va[:5], 1) and np.isnan(va[5:]).all()  # a did not move
    assert np.allclose(vb[5:], 2) and np.isnan(vb[:5]).all()  # b moved 10 mm right


def test_rotation_by_90_degrees_is_an_exact_permutation():
    data = np.arange(27, dtype=np.float32).reshape(3, 3, 3)
    img = nib.Nifti1Image(data, np.eye(4))
    (out,) = apply_transform(img, rotation([0, 0, 90], centre=[1, 1, 1]), grid=img)
    assert np.allclose(np.asarray(out.dataobj), np.rot90(data, 1, axes=(0, 1)))


def test_nearest_neighbour_keeps_labels():
    lab = np.zeros((6, 6, 6), np.int16)
    lab[1:3, 1:3, 1:3] = 7
    img = nib.Nifti1Image(lab, np.eye(4))
    (out,) = apply_transform(img, translation([1.2, 0, 0]), grid=img, order=0)
    assert out.get_data_dtype() == np.int16 and set(np.unique(np.asarray(out.dataobj))) == {0, 7}


def test_move_image_changes_only_the_affine():
    img = nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), np.eye(4))
    assert np.allclose(move_image(img, translation([1, 2, 3])).affine[:3, 3], [1, 2, 3])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: translation([1, 2]), "3 numbers"),
        (lambda: rotation([90]), "3 angles"),
        (lambda: scaling(0), "non-zero"),
        (lambda: compose(np.zeros((3, 3))), "4x4"),
        (lambda: compose(np.ones((4, 4))), "not affine"),
        (lambda: apply_transform([], np.eye(4)), "at least one image"),
        (lambda: apply_transform([nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), np.eye(4))],
                                 grid=3),
         "does not name"),
        (lambda: apply_transform([nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), np.eye(4))],
                                 grid="moon"),
         "grid must be"),
    ],
)
def test_transform_bad_input(call, match):
    with pytest.raises(ImagingError, match=match):
        call()


def test_an_roi_moves_as_a_label_image():
    from nora_lab.imaging import ROI

    roi = ROI(np.zeros((6, 6, 6)), np.eye(4), name="r")
    roi.data[1, 1, 1] = True
    (out,) = apply_transform(roi, translation([2, 0, 0]), grid=roi, order=0)
    assert np.argwhere(np.asarray(out.dataobj)).tolist() == [[3, 1, 1]]

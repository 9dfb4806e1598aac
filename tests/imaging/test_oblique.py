"""Oblique planes: orthonormal right-handed axes through a centre, a one-voxel-thick grid
on them, and tilts about the plane's own axes."""

from __future__ import annotations

import numpy as np
import pytest

from nora_lab import imaging as im
from nora_lab.errors import ImagingError


def test_an_axial_plane_gives_an_axial_grid_centred_on_its_centre():
    p = im.plane_matrix((10.0, -5.0, 20.0), (0.0, 0.0, 2.0))
    np.testing.assert_allclose(p[:3, :3], np.eye(3), atol=1e-12)
    g = im.plane_grid(p, size_mm=(40.0, 20.0), spacing_mm=2.0)
    assert g.shape == (20, 10, 1)
    centre = g.voxel_to_world(np.array([[9.5, 4.5, 0.0]]))[0]
    np.testing.assert_allclose(centre, (10.0, -5.0, 20.0))


@pytest.mark.parametrize("normal", [(0, 1, 1), (1, 0, 0), (0, 0, -1), (1, 2, 3)])
def test_axes_are_orthonormal_right_handed_with_the_normal_third(normal):
    p = im.plane_matrix((0, 0, 0), normal)
    r = p[:3, :3]
    np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_allclose(r[:, 2], np.asarray(normal) / np.linalg.norm(normal))


def test_tilting_turns_about_the_centre_and_shifting_moves_along_the_normal():
    p = im.plane_matrix((0.0, 0.0, 5.0), (0, 0, 1))
    q = im.tilt_plane(p, about_u_deg=90.0)
    np.testing.assert_allclose(q[:3, 3], p[:3, 3])
    assert abs(q[:3, 2] @ p[:3, 2]) < 1e-12                         # now perpendicular
    s = im.tilt_plane(p, shift_mm=3.0)
    np.testing.assert_allclose(s[:3, 3], (0.0, 0.0, 8.0))


def test_a_resampled_oblique_slice_holds_the_volume_on_the_plane():
    i, j, k = np.meshgrid(np.arange(30), np.arange(30), np.arange(30), indexing="ij")
    vol = (i + 2 * j + 3 * k).astype(np.float32)                    # linear in world (1 mm)
    p = im.plane_matrix((15.0, 15.0, 15.0), (0, 1, 1))
    g = im.plane_grid(p, 10.0, 1.0)
    out = np.asarray(im.resample_to_grid((vol, np.eye(4)), g).dataobj)[..., 0]
    world = g.voxel_to_world(np.argwhere(np.ones(g.shape, bool)))
    np.testing.assert_allclose(out.ravel(), world @ [1, 2, 3], atol=1e-3)


@pytest.mark.parametrize("args, words", [
    (((0, 0, 0), (0, 0, 0)), "normal"),
    (((0, 0), (0, 0, 1)), "centre"),
])
def test_bad_planes_are_refused(args, words):
    with pytest.raises(ImagingError, match=words):
        im.plane_matrix(*args)
    with pytest.raises(ImagingError, match="orthonormal"):
        im.plane_grid(np.diag([2.0, 1.0, 1.0, 1.0]))

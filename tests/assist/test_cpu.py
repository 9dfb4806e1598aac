"""The cpu backend: classical interactive segmentation on CT and MR phantoms."""

import numpy as np
import pytest

from nora_lab.assist import Assistant, Box, Lasso, Point, Scribble
from nora_lab.assist.evaluate import dice
from nora_lab.errors import AssistError

from .conftest import phantom


@pytest.mark.parametrize("kind", ["ct", "mr"])
def test_one_click_inside_a_ball_gives_the_ball(kind):
    img, truth = phantom(kind)
    a = Assistant(img, backend="cpu")
    a.add_point((32, 30, 24))
    found = a.mask()
    assert (found & truth).sum() >= (0.9 if kind == "ct" else 0.65) * truth.sum()
    if kind == "ct":  # the bone next door differs; in MR the neighbour is alike (next test)
        assert dice(found, truth) >= 0.9


def test_a_negative_click_cuts_off_a_touching_neighbour_of_the_same_intensity():
    img, truth = phantom("mr")
    grid = np.indices(img.shape)
    neighbour = ((grid - np.array([32, 52, 24])[:, None, None, None]) ** 2).sum(0) <= 8**2
    a = Assistant(img, backend="cpu")
    a.add_point((32, 30, 24))
    assert (a.mask() & neighbour).sum() > 0.5 * neighbour.sum()  # leaked over the bridge
    kept = (a.mask() & truth).sum()
    a.add_point((32, 52, 24), positive=False)
    assert (a.mask() & neighbour).sum() < 0.1 * neighbour.sum()
    assert (a.mask() & truth).sum() >= 0.95 * kept


def test_the_proposal_is_computed_on_a_crop_not_the_volume():
    img, truth = phantom("ct", shape=(96, 96, 64))
    a = Assistant(img, backend="cpu")
    p = a.add_point((32, 30, 24))
    assert p.bbox is not None
    assert np.prod(p.mask.shape) < img.size / 3
    assert dice(p.full(), truth) >= 0.9


@pytest.mark.parametrize("interaction", [
    Box((22, 20, 24), (42, 40, 24)),
    Lasso([(22, 30, 24), (32, 20, 24), (42, 30, 24), (32, 40, 24)]),
    Scribble([(28, 30, 24), (36, 31, 24), (33, 34, 22)]),
], ids=["box", "lasso", "scribble"])
def test_boxes_lassos_and_scribbles_each_give_the_object(interaction):
    img, truth = phantom("ct")
    a = Assistant(img, backend="cpu")
    a.add(interaction)
    assert dice(a.mask(), truth) >= 0.85


def test_a_box_keeps_its_slice_inside_the_box():
    img, truth = phantom("ct")
    a = Assistant(img, backend="cpu")
    a.add_box((26, 24, 24), (38, 36, 24))  # smaller than the ball on slice 24
    on_slice = a.mask()[:, :, 24]
    assert on_slice.any() and not on_slice[:26].any() and not on_slice[39:].any()
    assert a.mask()[:, :, 20].sum() > 0  # the rest of the ball is still found


def test_an_interaction_outside_the_image_is_refused_with_its_position():
    img, _ = phantom("ct")
    a = Assistant(img, backend="cpu")
    with pytest.raises(AssistError, match=r"outside the image of shape \(64, 64, 48\)"):
        a.add_point((70, 3, 3))
    assert a.interactions == []


def test_negative_interactions_alone_propose_nothing():
    img, _ = phantom("ct")
    a = Assistant(img, backend="cpu")
    assert a.add_point((5, 5, 5), positive=False).count == 0


def test_unknown_cpu_settings_are_named():
    from nora_lab.errors import ConfigError

    img, _ = phantom("ct")
    with pytest.raises(ConfigError, match="margin"):
        Assistant(img, backend="cpu", margin=3)


def test_points_are_interactions_of_one_voxel():
    with pytest.raises(AssistError, match="one voxel"):
        Point([(1, 2, 3), (4, 5, 6)])
    with pytest.raises(AssistError, match="at least 3"):
        Lasso([(1, 2, 3), (4, 5, 3)])

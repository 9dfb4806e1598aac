"""The issue's targets on the demo brain (cpu backend): WM from three positive clicks and
one negative click in the GM, a lateral ventricle from three clicks; Dice ≥ 0.8."""

import pytest

from nora_lab.assist import Assistant
from nora_lab.assist.evaluate import deepest, dice, spread_clicks

pytestmark = pytest.mark.slow


def test_white_matter_from_three_clicks_and_one_negative(demo_brain):
    a = Assistant(demo_brain.t1, demo_brain.affine, backend="cpu")
    for voxel in spread_clicks(demo_brain.wm):
        a.add_point(voxel)
    a.add_point(deepest(demo_brain.gm), positive=False)
    assert dice(a.mask(), demo_brain.wm) >= 0.8


def test_a_lateral_ventricle_from_three_clicks(demo_brain):
    a = Assistant(demo_brain.t1, demo_brain.affine, backend="cpu")
    for voxel in spread_clicks(demo_brain.ventricle):
        a.add_point(voxel)
    assert dice(a.mask(), demo_brain.ventricle) >= 0.8
    assert a.proposal.mask.size < demo_brain.t1.size / 4  # a crop, not the head

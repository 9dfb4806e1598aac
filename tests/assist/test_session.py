"""The notebook API: add_point / add_box / add_scribble / add_lasso, result, reset, replay."""

import nibabel as nib
import numpy as np

from nora_lab.assist import Assistant, Point
from nora_lab.assist.evaluate import dice, dice_curve
from nora_lab.imaging import ROI

from .conftest import phantom


def _image():
    img, truth = phantom("ct")
    affine = np.diag([0.8, 0.8, 1.5, 1.0])
    affine[:3, 3] = (-20, 10, 5)
    return nib.Nifti1Image(img, affine), truth


def test_world_positions_are_the_same_click_as_voxels():
    image, truth = _image()
    a = Assistant(image)  # the shipped default backend is cpu
    assert a.backend.name == "cpu"
    world = image.affine @ np.array([32, 30, 24, 1.0])
    a.add_point(world[:3], world=True)
    assert a.interactions == [Point((32, 30, 24))]
    assert dice(a.mask(), truth) >= 0.9


def test_result_is_an_roi_on_the_image_grid():
    image, truth = _image()
    a = Assistant(image)
    a.add_point((32, 30, 24))
    roi = a.result("liver")
    assert isinstance(roi, ROI) and roi.name == "liver"
    assert np.allclose(roi.affine, image.affine) and roi.shape == image.shape
    assert roi.count == a.proposal.count > 0
    assert a.latency > 0


def test_reset_forgets_the_interactions_and_the_proposal():
    image, _ = _image()
    a = Assistant(image)
    a.add_point((32, 30, 24))
    a.reset()
    assert a.interactions == [] and a.proposal.count == 0 and not a.mask().any()


def test_a_session_replays_to_the_same_proposal():
    image, _ = _image()
    a = Assistant(image)
    a.add_point((32, 30, 24))
    a.add_scribble([(30, 28, 24), (34, 32, 24)])
    a.add_point((32, 52, 24), positive=False)
    b = Assistant(image)
    for it in a.interactions:
        b.add(it)
    assert np.array_equal(a.mask(), b.mask())


def test_dice_curve_reports_each_click():
    image, truth = _image()
    rows = dice_curve(lambda: Assistant(image), truth, clicks=3)
    assert [r["clicks"] for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0]["positive"] == 1 and rows[-1]["dice"] >= 0.9

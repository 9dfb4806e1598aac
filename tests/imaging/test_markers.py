"""Marker-tool point sets: JSON in NORA's annotation layout, label volumes."""

import json

import nibabel as nib
import numpy as np
import pytest

from nora_lab.errors import ImagingError
from nora_lab.imaging import PointSet
from nora_lab.imaging.markers import pointsets_from_dict, pointsets_to_dict


def landmarks():
    ps = PointSet("landmarks")
    ps.add([0.0, 2.5, -4.0], "AC")
    ps.add([0.0, -24.0, -2.0], "PC", color="#ff0000")
    ps.add([10, 10, 10])
    return ps


def test_json_round_trip_as_str_and_dict():
    ps = landmarks()
    assert ps.names == ["AC", "PC", "landmarks-3"]
    back = PointSet.from_json(ps.to_json())
    assert back.names == ps.names and np.array_equal(back.coords, ps.coords)
    assert back.points[1].color == "#ff0000"
    assert PointSet.from_dict(ps.to_dict()).names == ps.names


def test_file_layout_is_noras_annotation_format():
    obj = json.loads(landmarks().to_json())
    entry = obj["annotations"][0]
    assert entry["type"] == "pointset" and entry["name"] == "landmarks"
    assert entry["points"][0] == {"name": "AC", "coords": [0.0, 2.5, -4.0], "size": 1.0}
    assert landmarks().relpath == "annotations/landmarks.ano.json"


def test_several_sets_in_one_file_and_non_pointsets_skipped():
    a, b = landmarks(), PointSet("other", [])
    obj = pointsets_to_dict([a, b])
    obj["annotations"].append({"type": "freeline", "name": "x"})
    sets = pointsets_from_dict(obj)
    assert [s.name for s in sets] == ["landmarks", "other"]
    assert PointSet.from_dict(obj, name="other").names == []


def test_edit_points():
    ps = landmarks()
    ps.rename("landmarks-3", "tip")
    ps.move("tip", [1, 2, 3])
    assert ps.points[2].coords.tolist() == [1, 2, 3]
    ps.remove(0)
    assert ps.names == ["PC", "tip"]


def test_label_volume_on_a_reference_grid():
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    aff[:3, 3] = [-20, -30, -10]
    ref = nib.Nifti1Image(np.zeros((20, 20, 10), np.float32), aff)
    ps = PointSet("p")
    ps.add([0, 0, 0], "a")  # voxel (10, 15, 5)
    ps.add([-20, -30, -10], "b")  # voxel (0, 0, 0)
    lab = np.asarray(ps.to_label_volume(ref).dataobj)
    assert lab[10, 15, 5] == 1 and lab[0, 0, 0] == 2 and (lab > 0).sum() == 2
    balls = np.asarray(ps.to_label_volume(ref, radius_mm=2).dataobj)
    assert (balls == 1).sum() == 7  # centre + 6 neighbours at 2 mm


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: PointSet.from_json("{not json"), "malformed"),
        (lambda: PointSet.from_dict({"annotations": []}), "no point set"),
        (lambda: PointSet.from_dict({"type": "pointset", "points": [{"name": "a"}]}),
         "no 'coords'"),
        (lambda: PointSet("p").add([1, 2]), "3 finite numbers"),
        (lambda: landmarks().remove("nope"), "no point named"),
        (lambda: landmarks().to_label_volume(nib.Nifti1Image(np.zeros((3, 3, 3), np.float32),
                                                             np.eye(4))),
         "outside the reference grid"),
    ],
)
def test_marker_bad_input(call, match):
    with pytest.raises(ImagingError, match=match):
        call()

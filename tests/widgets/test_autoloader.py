"""Autoloader recipes: validation with errors that name the fix, storage in the project's
JSON store (shared between users), and applying a recipe to studies of a real archive."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from nora_lab.archive.recipes import _ITEM_KEYS, _RECIPE_KEYS, ROLES
from nora_lab.errors import ConfigError, NotFoundError
from nora_lab.widgets import MarkerTool, ROITool, Viewer
from nora_lab.widgets.autoloader import DEFAULT, Autoloader

DOC = Path(__file__).resolve().parents[2] / "docs" / "autoloader-format.md"

QC = {
    "description": "T1 and FLAIR side by side",
    "layout": "1x3",
    "items": [
        {"pattern": "3_t1/t1.nii", "viewport": [0, 1], "role": "background", "colormap": "gray",
         "window": [800, 1600]},
        {"pattern": "5_flair/*.nii", "viewport": 2, "role": "background", "window": "bone"},
        {"pattern": "5_flair/*.nii", "viewport": [0, 1], "role": "overlay", "colormap": "warm",
         "opacity": 0.4},
    ],
}


def layers(viewer):
    return [(s["name"], s["role"], s["viewports"]) for s in viewer.layers]


# ---------------------------------------------------------------- the format


def test_a_recipe_round_trips():
    r = Autoloader.from_dict(QC, name="qc")
    assert r.name == "qc" and r.layout == "1x3" and len(r.items) == 3
    again = Autoloader.from_dict(r.to_dict(), name="qc")
    assert again == r
    assert r.to_dict()["items"][2] == {"pattern": "5_flair/*.nii", "viewport": [0, 1],
                                       "role": "overlay", "colormap": "warm", "opacity": 0.4}
    assert r.items[1].window_for() == (400.0, 1800.0)      # the "bone" CT preset
    assert r.items[0].window_for() == (800.0, 1600.0)


@pytest.mark.parametrize(("recipe", "words"), [
    ([], "a recipe is a JSON object"),
    ({"items": []}, "non-empty list 'items'"),
    ({"items": [{"pattern": "a"}], "colour": 1}, "unknown key(s) ['colour']"),
    ({"items": [{"pattern": "a"}], "layout": "4x4"}, "unknown layout '4x4'"),
    ({"items": [{"pattern": "a"}], "version": 2}, "format version 2"),
    ({"items": [{"role": "background"}]}, "item 0: needs a 'pattern'"),
    ({"items": [{"pattern": "../x"}]}, "would leave the study folder"),
    ({"items": [{"pattern": "a", "role": "label"}]}, "item 0 ('a'): unknown role 'label'"),
    ({"items": [{"pattern": "a", "colormap": "grey"}]}, "did you mean gray"),
    ({"items": [{"pattern": "a", "window": [40, 0]}]}, "width > 0"),
    ({"items": [{"pattern": "a", "window": "brian"}]}, "unknown window preset 'brian'"),
    ({"items": [{"pattern": "a", "viewport": 9}]}, "viewport must be an index"),
    ({"items": [{"pattern": "a", "opacity": 2}]}, "opacity must be within 0..1"),
    ({"items": [{"pattern": "a", "color": "mauve"}]}, "unknown color 'mauve'"),
    ({"items": [{"pattern": "a", "frame": -1}]}, "frame must be a volume index"),
    ({"items": [{"pattern": "a", "match": "any"}]}, "match must be one of"),
    ({"items": [{"pattern": "a", "outline": "yes"}]}, "outline must be true or false"),
    ({"items": [{"pattern": "a", "size": 3}]}, "item 0: unknown key(s) ['size']"),
])
def test_bad_recipes_are_refused_naming_the_item_and_the_fix(recipe, words):
    with pytest.raises(ConfigError) as err:
        Autoloader.from_dict(recipe, name="qc")
    text = str(err.value)
    assert words in text and "docs/autoloader-format.md" in text
    if isinstance(recipe, dict):
        assert "autoloader 'qc'" in text


def test_the_format_document_names_every_key_and_role():
    doc = DOC.read_text()
    for key in sorted(_ITEM_KEYS | _RECIPE_KEYS) + list(ROLES) + ["first", "last", "all"]:
        assert re.search(rf'`"?{re.escape(key)}"?`',
                         doc), f"docs/autoloader-format.md does not explain `{key}`"
    # every JSON example in the document is a valid recipe
    import json

    blocks = re.findall(r"```json\n(.*?)```", doc, re.S)
    assert blocks
    for block in blocks:
        Autoloader.from_dict(json.loads(block))


# ---------------------------------------------------------------- the archive's JSON store


def test_recipes_are_stored_in_the_project_and_shared(desk_project, url, tmp_path):
    from nora_lab.archive import Archive

    Autoloader.from_dict(QC).save(desk_project, "qc")
    assert Autoloader.names(desk_project) == ["qc"]
    assert desk_project.get_json("autoloader", "qc")["items"][0]["pattern"] == "3_t1/t1.nii"
    desk_project.archive.add_user("bob")
    desk_project.archive.grant("desk", "bob", "reader")
    bob = Archive.open(url, root=tmp_path / "data", user="bob").project("desk")
    assert Autoloader.load(bob, "qc") == Autoloader.from_dict(QC, name="qc")
    with pytest.raises(ConfigError, match="needs a name"):
        Autoloader.from_dict(QC).save(desk_project)
    Autoloader.delete(desk_project, "qc")
    with pytest.raises(NotFoundError, match="no autoloader named 'qc'"):
        Autoloader.load(desk_project, "qc")


# ---------------------------------------------------------------- applying


def test_apply_loads_each_pattern_with_its_settings(desk_project):
    viewer = Viewer()
    report = Autoloader.from_dict(QC).apply(desk_project, "P002#S1", viewer)
    assert viewer.view_layout == "1x3"
    assert layers(viewer) == [("t1.nii.gz", "background", [0, 1]),
                              ("flair.nii.gz", "background", [2]),
                              ("flair.nii.gz", "overlay", [0, 1])]
    bg, flair, over = viewer.layers
    assert bg["window"] == [800.0, 1600.0] and flair["window"] == [400.0, 1800.0]
    assert over["colormap"] == "warm" and over["opacity"] == 0.4
    assert [r for _, r, _ in report.loaded] == ["3_t1/t1.nii.gz", "5_flair/flair.nii.gz",
                                                 "5_flair/flair.nii.gz"]
    assert report.missing == [] and report.errors == []
    # a study without FLAIR: the T1 loads, the FLAIR items are reported missing
    report = Autoloader.from_dict(QC).apply(desk_project, "P001#S1", viewer)
    assert layers(viewer) == [("t1.nii.gz", "background", [0, 1])]
    assert report.missing == ["5_flair/*.nii", "5_flair/*.nii"]
    assert "no match for '5_flair/*.nii'" in str(report)


def test_optional_items_are_not_reported_missing(desk_project):
    recipe = Autoloader.from_dict({"items": [{"pattern": "3_t1/*.nii"},
                                             {"pattern": "rois/*.nii", "role": "roi",
                                              "optional": True}]})
    assert recipe.items[1].to_dict()["optional"] is True
    report = recipe.apply(desk_project, "P001#S1", Viewer())
    assert report.missing == [] and str(report) == "P001#S1: 1 file(s) loaded"
    assert DEFAULT.apply(desk_project, "P005#S1", Viewer()).missing == []


def test_alternatives_are_tried_in_order(desk_project, volume):
    viewer = Viewer()
    recipe = Autoloader.from_dict({"items": [{"pattern": "*flair*/*.nii 3_t1/*.nii"}]})
    assert recipe.apply(desk_project, "P002#S1", viewer).loaded[0][1] == "5_flair/flair.nii.gz"
    assert recipe.apply(desk_project, "P001#S1", viewer).loaded[0][1] == "3_t1/t1.nii.gz"
    np.testing.assert_array_equal(viewer.layer("t1.nii.gz").data.data, volume)


def test_frame_picks_a_volume_of_a_4d_series(desk_project, volume):
    viewer = Viewer()
    Autoloader.from_dict({"items": [{"pattern": "*dwi*", "frame": 2, "name": "dwi b2"}]}).apply(
        desk_project, "P003#S1", viewer)
    np.testing.assert_array_equal(viewer.layer("dwi b2").data.data, volume + 2)
    report = Autoloader.from_dict({"items": [{"pattern": "*dwi*", "frame": 5}]}).apply(
        desk_project, "P003#S1", viewer)
    assert "has 3 volumes; frame 5 does not exist" in report.errors[0]


def test_match_all_and_last(desk_project):
    viewer = Viewer(layout="1x3")
    recipe = Autoloader.from_dict({"items": [{"pattern": "*.nii", "match": "all", "viewport": 0}]})
    report = recipe.apply(desk_project, "P002#S1", viewer)
    assert [r for _, r, _ in report.loaded] == ["3_t1/t1.nii.gz", "5_flair/flair.nii.gz"]
    assert [s["role"] for s in viewer.layers] == ["background", "overlay"]
    last = Autoloader.from_dict({"items": [{"pattern": "*.nii", "match": "last"}]})
    assert [r
            for _, r, _ in last.apply(desk_project, "P002#S1",
                                      viewer).loaded] == ["5_flair/flair.nii.gz"]


def test_a_file_that_cannot_be_read_is_reported_and_the_rest_loads(desk_project):
    viewer = Viewer()
    recipe = Autoloader.from_dict({"items": [{"pattern": "3_t1/*.nii"}, {"pattern": "notes/*"}]})
    report = recipe.apply(desk_project, "P007#S1", viewer)
    assert len(report.errors) == 1 and report.errors[0].startswith("3_t1/t1.nii.gz: ")
    assert report.missing == ["notes/*"]
    report = recipe.apply(desk_project, "P006#S1", viewer)
    assert report.missing == ["3_t1/*.nii"] and "readme.txt" in report.errors[0]


def test_rois_and_point_sets_go_into_the_tools(desk_project, volume, affine):
    import nibabel as nib

    from nora_lab.imaging import PointSet

    desk_project.add_image(nib.Nifti1Image((volume > 1500).astype(np.uint8), affine), "P001#S1",
                           "rois/lesion.nii.gz", tags=["roi"])
    ps = PointSet("landmarks")
    ps.add([0.0, 0.0, 20.0], "AC")
    desk_project.add_json(ps.to_file_dict(), "P001#S1", ps.relpath)
    viewer = Viewer()
    rois, markers = ROITool(viewer, desk_project, "P001#S1"), MarkerTool(viewer, desk_project,
                                                                         "P001#S1")
    report = DEFAULT.apply(desk_project, "P001#S1", viewer, roi_tool=rois, marker_tool=markers)
    assert [(r, role) for _, r, role in report.loaded] == [
        ("3_t1/t1.nii.gz", "background"), ("rois/lesion.nii.gz", "roi"),
        ("annotations/landmarks.ano.json", "markers")]
    assert rois.names == ["lesion"] and rois.current.count == int((volume > 1500).sum())
    assert not rois.is_dirty("lesion")
    assert markers.current.names == ["AC"]
    # the default picks the image, not the ROI file, as background
    assert viewer.layers[0]["name"] == "t1.nii.gz"
    # without the tools, an roi item is shown as a mask
    plain = Viewer()
    Autoloader.from_dict({"items": [{"pattern": "rois/*.nii", "role": "roi",
                                     "color": "green"}]}).apply(
        desk_project, "P001#S1", plain)
    assert layers(plain) == [("lesion.nii.gz", "mask", list(range(9)))]
    with pytest.raises(ConfigError):
        Autoloader.from_dict({"items": [{"pattern": "x", "role": "markers", "window": [1]}]})

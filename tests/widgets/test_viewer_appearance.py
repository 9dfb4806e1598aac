"""A layer drawn differently in some viewports (NORA: shift while choosing in the viewbar):
``Viewer.set_appearance`` / ``clear_appearance``, ``Layer.appearance`` and how ``window``
follows the active viewport."""

from __future__ import annotations

import pytest

from nora_lab.errors import ImagingError
from nora_lab.widgets import Viewer


@pytest.fixture
def viewer(volume):
    return Viewer(volume, layout="1x3")


def test_a_viewport_gets_its_own_colormap_and_opacity(viewer):
    bg = viewer.layers[0]["name"]
    seq = viewer.seq
    layer = viewer.set_appearance(bg, viewport=2, colormap="hot", opacity=0.5)
    assert viewer.seq > seq  # the page draws it
    assert layer.appearance(2) == {"colormap": "hot", "window": layer.window, "opacity": 0.5}
    assert layer.appearance(0) == {"colormap": "gray", "window": layer.window, "opacity": 1.0}
    assert layer.colormap == "gray"  # the layer's own look is unchanged
    assert viewer.layers[0]["per_viewport"] == {"2": {"colormap": "hot", "opacity": 0.5}}


def test_several_viewports_at_once_and_clearing_one(viewer):
    layer = viewer.set_appearance(viewer.layers[0]["id"], viewport=[1, 2], colormap="cool")
    viewer.clear_appearance(layer, viewport=1)
    assert [layer.appearance(i)["colormap"] for i in range(3)] == ["gray", "gray", "cool"]
    viewer.clear_appearance(layer)
    assert viewer.layers[0]["per_viewport"] == {}


def test_setting_the_layer_sets_every_viewport_again(viewer):
    layer = viewer.set_appearance(viewer.layers[0]["id"], viewport=1, colormap="hot",
                                  window=(500, 200))
    layer.colormap = "cool"  # for all viewports: viewport 1 keeps only its window
    assert [layer.appearance(i)["colormap"] for i in range(3)] == ["cool"] * 3
    assert layer.appearance(1)["window"] == [500.0, 200.0]
    layer.window = (300, 100)
    assert viewer.layers[0]["per_viewport"] == {}


def test_window_is_the_active_viewports_and_changes_only_its_own(viewer):
    layer = viewer.layer(viewer.layers[0]["id"])
    shared = tuple(layer.window)
    viewer.set_appearance(layer, viewport=1, window=(500, 200))
    assert viewer.window == shared  # viewport 0 is active
    viewer.active_viewport = 1
    assert viewer.window == (500.0, 200.0)
    viewer.window = (600, 100)  # as a middle drag or a preset in viewport 1 would
    assert layer.appearance(1)["window"] == [600.0, 100.0]
    assert tuple(layer.window) == shared and layer.appearance(2)["window"] == list(shared)
    viewer.reset_window()  # double click: the window the image opened with, here only
    assert layer.appearance(1)["window"] == list(viewer.layers[0]["open_window"])
    viewer.active_viewport = 0
    viewer.window = (10, 20)
    assert tuple(layer.window) == (10.0, 20.0) and layer.appearance(2)["window"] == [10.0, 20.0]
    assert layer.appearance(1)["window"] == list(viewer.layers[0]["open_window"])


def test_bad_appearances_say_what_is_wrong(viewer, volume):
    bg = viewer.layers[0]["id"]
    with pytest.raises(ImagingError, match="give colormap=, window= or opacity="):
        viewer.set_appearance(bg, viewport=1)
    with pytest.raises(ImagingError, match="unknown colormap 'hott'"):
        viewer.set_appearance(bg, viewport=1, colormap="hott")
    with pytest.raises(ImagingError, match="viewport must be an index 0..8"):
        viewer.set_appearance(bg, viewport=12, opacity=0.3)
    with pytest.raises(ImagingError, match="opacity .* within 0..1"):
        viewer.set_appearance(bg, viewport=1, opacity=3)
    viewer.set_mask(volume > 1000, affine=None, name="roi")
    with pytest.raises(ImagingError, match="'roi' is a mask"):
        viewer.set_appearance("roi", viewport=1, opacity=0.3)
    assert viewer.layers[0]["per_viewport"] == {}

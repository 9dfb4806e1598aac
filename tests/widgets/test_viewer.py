"""The Viewer's model, without a browser: state, binary transfer, diffs, events, errors.

A :class:`FakeFrontend` plays the page: it says "ready", records every comm
message and reassembles layers from chunks the way ``viewer.js`` does.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nora_lab.display import CT_WINDOW_PRESETS, colormaps
from nora_lab.errors import ImagingError
from nora_lab.widgets import Viewer

from .conftest import assert_same_image

WIDGETS = Path(__file__).resolve().parents[2] / "nora_lab" / "widgets"


# ---------------------------------------------------------------- the package


def test_import_is_lazy_and_widgets_never_pull_in_sql():
    code = ("import sys, nora_lab.widgets as w; assert 'anywidget' not in sys.modules; "
            "w.Viewer; import nora_lab.widgets.viewer; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'psycopg', "
            "'alembic')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_shipped_bundle_is_built_from_the_current_sources():
    """static/viewer.js records the sha256 of js/src and package-lock.json (see js/build.mjs):
    edit the JS and forget `npm run build`, and this fails."""
    js = WIDGETS / "js"
    h = hashlib.sha256()
    for f in sorted((js / "src").iterdir()):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    h.update((js / "package-lock.json").read_bytes())
    head = (WIDGETS / "static" / "viewer.js").read_text()[:400]
    m = re.search(r"source-sha256: ([0-9a-f]{64})", head)
    assert m, ("static/viewer.js has no source hash banner: rebuild it with `npm run build` in "
               "nora_lab/widgets/js")
    assert m.group(1) == h.hexdigest(), (
        "static/viewer.js is stale: run `npm ci && npm run build` in nora_lab/widgets/js")


def test_colormaps_come_from_niivue():
    names = colormaps()
    assert {"gray", "warm", "hot", "viridis", "red"} <= set(names)


# ---------------------------------------------------------------- opening and state


def test_every_format_opens_in_a_viewer(files):
    v = Viewer()
    for fmt, path in files.items():
        layer = v.open(path, viewport=1)
        assert layer.kind == {"gii": "mesh", "tck": "tract", "trk": "tract"}.get(fmt, "volume")
    roles = [s["role"] for s in v.layers]
    assert roles.count("background") == 1  # the first volume; later volumes overlay it
    assert roles.count("overlay") == 4 and roles.count("surface") == 1 and roles.count(
        "fibers") == 2


def test_first_volume_sets_position_window_and_value(volume, affine):
    v = Viewer()
    v.open(volume, affine=affine, name="ramp")
    center = tuple((affine @ [9.5, 11.5, 7.5, 1])[:3])
    assert v.position == pytest.approx(center)
    assert v.value == volume[10, 12, 8]  # nearest voxel to the centre (rounding half to even)
    assert v.window == tuple(v.layers[0]["auto_window"])
    v.position = tuple((affine @ [3, 4, 5, 1])[:3])
    assert v.value == volume[3, 4, 5]
    v.position = (1e4, 0, 0)
    assert v.value is None


def test_a_new_background_replaces_the_old_one_and_others_overlay(volume, affine):
    v = Viewer()
    a = v.open(volume, affine=affine, name="a")
    b = v.open(volume, affine=affine, name="b")
    assert (a.role, b.role) == ("background", "overlay")
    assert b.colormap == "warm" and a.colormap == "gray"
    c = v.open(volume, affine=affine, name="c", role="background")
    assert c.role == "background"
    assert [s["name"] for s in v.layers] == ["b", "c"]
    assert a.id not in v._data


def test_background_replaced_only_where_the_new_one_goes(volume, affine):
    v = Viewer(layout="2x2")
    a = v.open(volume, affine=affine, viewport="all")
    v.open(volume, affine=affine, viewport=[2, 3], role="background")
    assert a.viewports == (0, 1, 4, 5, 6, 7, 8)


def test_layer_properties_update_the_layers_trait_and_bump_seq(volume, affine):
    v = Viewer()
    layer = v.open(volume, affine=affine)
    seq = v.seq
    layer.opacity = 0.3
    layer.colormap = "hot"
    layer.visible = False
    assert (layer.opacity, layer.colormap, layer.visible) == (0.3, "hot", False)
    assert v.seq > seq
    with pytest.raises(ImagingError, match=r"unknown colormap 'hott'.*did you mean hot"):
        layer.colormap = "hott"
    with pytest.raises(ImagingError, match="within 0..1"):
        layer.opacity = 2


def test_layouts_set_default_slice_types_and_mosaic(volume, affine):
    v = Viewer(volume, layout="1x3")
    assert v.view_layout == "1x3" and v.slice_types == ["axial", "coronal", "sagittal"]
    v.view_layout = "2x2"
    assert v.slice_types == ["axial", "coronal", "sagittal", "render"]
    v.view_layout = "mosaic"
    assert v.slice_types == ["mosaic"]
    assert v.mosaic.startswith("L+ ")  # slice labels on
    rows = v.mosaic[3:].split(";")
    assert len(rows) == 3 and all(r.split()[0] == "A" and len(r.split()) == 5 for r in rows)
    v.view_layout = "1x2"
    assert v.slice_types == ["axial", "coronal"]
    v.view_layout = "3x3"  # three rows of axial | coronal | sagittal
    assert v.slice_types == ["axial", "coronal", "sagittal"] * 3
    assert v.layers[0]["viewports"] == list(range(9))  # "all" covers every viewport
    with pytest.raises(ImagingError, match="unknown layout '4x4'"):
        v.view_layout = "4x4"


def test_the_mosaic_spans_the_head_not_the_air_around_it(affine):
    head = np.zeros((20, 20, 40), np.int16)
    head[5:15, 5:15, 10:20] = 100  # the head fills z voxels 10..19 of 0..39
    v = Viewer(head, layout="mosaic")
    zs = [float(z) for z in v.mosaic.replace(";", " ").split() if z not in ("L+", "A")]
    assert len(zs) == 12 and 10.0 <= min(zs) and max(zs) <= 19.0
    with pytest.raises(ImagingError, match="slice_types"):
        v.slice_types = ["oblique"]


def test_ipywidgets_layout_still_works():
    import ipywidgets

    v = Viewer(layout=ipywidgets.Layout(width="600px"))
    assert v.layout.width == "600px" and v.view_layout == "1"


@pytest.mark.parametrize("key", sorted(CT_WINDOW_PRESETS))
def test_ct_window_presets(key, volume):
    v = Viewer()
    v.open(volume, modality="CT")
    got = v.apply_window_preset(key)
    p = CT_WINDOW_PRESETS[key]
    expect = tuple(v.layers[0]["auto_window"]) if p["level"] is None else (p["level"], p["width"])
    assert got == pytest.approx(expect) and v.window == pytest.approx(expect)
    assert v.layers[0]["window"] == pytest.approx(list(expect))


def test_presets_by_name_and_unknown_preset(volume):
    v = Viewer()
    v.open(volume, modality="CT")
    assert v.apply_window_preset("bone") == (400.0, 1800.0)
    with pytest.raises(ImagingError, match="unknown window preset '9'"):
        v.apply_window_preset("9")


def test_ct_presets_never_apply_to_mr_only_auto_does(volume):
    v = Viewer(volume)  # a ramp 0..1915: no Hounsfield air, so MR
    assert v.layers[0]["modality"] == "MR"
    with pytest.raises(ImagingError, match="'bone' is a CT window.*'array' is MR"):
        v.apply_window_preset("4")
    assert v.window == tuple(v.layers[0]["open_window"])
    assert v.apply_window_preset("0") == pytest.approx(tuple(v.layers[0]["auto_window"]))


def test_modality_is_guessed_from_hounsfield_air_or_given(volume):
    ct = np.full((20, 20, 20), -1000, np.int16)
    ct[5:15, 5:15, 5:15] = 40
    v = Viewer(ct)
    assert v.layers[0]["modality"] == "CT"
    assert v.open(volume, modality="PT").id and v.layers[1]["modality"] == "PT"
    with pytest.raises(ImagingError, match="unknown modality 'XR'"):
        v.open(volume, modality="XR")


def test_reset_window_returns_to_the_window_the_image_opened_with(volume):
    v = Viewer()
    v.open(volume, window=(500, 300))
    v.window = (20, 10)
    assert v.reset_window() == (500, 300) and v.layers[0]["window"] == [500, 300]


def test_sources_of_the_constructor_show_in_every_viewport(volume):
    v = Viewer(volume, layout="2x2")
    assert v.layers[0]["viewports"] == list(range(9))


def test_the_constructor_places_array_sources_by_its_affine(volume, affine, tmp_path):
    v = Viewer(volume, volume, affine=affine)
    for spec in v.layers:                                   # background and overlay
        np.testing.assert_allclose(np.reshape(spec["affine"], (4, 4)), affine)
        np.testing.assert_allclose(v.layer(spec["id"]).volume.affine, affine)
    path = tmp_path / "t1.nii.gz"
    nib.save(nib.Nifti1Image(volume, affine), path)
    with pytest.raises(ImagingError, match="brings its own affine"):
        Viewer(path, affine=affine)


def test_window_follows_the_active_viewport(volume, affine):
    v = Viewer(layout="1x3")
    a = v.open(volume, affine=affine, viewport=0, window=(40, 80))
    b = v.open(volume * 2, affine=affine, viewport=1, window=(400, 1800))
    assert v.window == (40, 80)
    v.active_viewport = 1
    assert v.window == (400, 1800)
    v.window = (50, 100)
    assert b.window == [50, 100] and a.window == [40, 80]
    with pytest.raises(ImagingError, match="width > 0"):
        v.window = (10, 0)


# ---------------------------------------------------------------- the front end's side


def test_nothing_is_sent_until_a_front_end_is_ready(volume, frontend):
    v = Viewer()
    fe = frontend(v)
    v.open(volume)
    assert fe.messages == []  # e.g. under nbclient: no page, no bytes
    fe.ready()
    assert [c["type"] for c, _ in fe.messages] == ["begin", "chunk", "end"]  # one gzip part


def test_volume_travels_as_binary_chunks_that_reassemble_to_a_nifti(volume, affine, frontend):
    v = Viewer(chunk_bytes=1000, compress=False)
    fe = frontend(v)
    fe.ready()
    layer = v.open(volume, affine=affine)
    begin = fe.of_type("begin")[0][0]
    chunks = fe.of_type("chunk")
    assert begin["total"] == 352 + volume.nbytes
    assert all(len(b) == 1 and b[0].nbytes <= 1000 for _, b in chunks)
    assert sum(b[0].nbytes for _, b in chunks) == 352 + volume.nbytes == v.bytes_sent
    # no JSON array anywhere in the messages
    assert all(len(json.dumps(c)) < 400 for c, _ in fe.messages)
    blob, parts = fe.assemble(layer.id)
    assert parts["voxels"]["offset"] == 352
    assert_same_image(nib.Nifti1Image.from_bytes(blob), nib.Nifti1Image(volume, affine))


@pytest.mark.parametrize("order", ["C", "F"])
def test_both_memory_orders_reach_the_page_as_the_same_world_image(volume, affine, frontend, order):
    v = Viewer()
    fe = frontend(v)
    fe.ready()
    layer = v.open(np.asarray(volume, order=order), affine=affine)
    assert_same_image(fe.image(layer.id), nib.Nifti1Image(volume, affine))


def test_uncompressed_chunks_are_views_of_the_layer_array_not_copies(volume, frontend):
    v = Viewer(compress=False)
    fe = frontend(v)
    fe.ready()
    layer = v.open(volume.astype(np.float32))
    voxel_chunk = fe.of_type("chunk")[-1][1][0]
    assert np.shares_memory(np.frombuffer(voxel_chunk, np.uint8), layer.data.data)


def test_widget_state_holds_no_voxels(volume):
    v = Viewer(np.zeros((256, 256, 100), np.int16))
    state = {k: val for k, val in v.get_state().items() if k not in ("_esm", "_css")}
    assert len(json.dumps(state)) < 20_000


def test_large_ct_is_sent_in_bounded_chunks(frontend):
    ct = np.zeros((512, 512, 400), np.int16)
    v = Viewer(compress=False)
    fe = frontend(v)
    fe.ready()
    v.open(ct)
    sizes = [b[0].nbytes for _, b in fe.of_type("chunk")]
    assert sum(sizes) == 352 + ct.nbytes and max(sizes) <= 8 * 1024 * 1024 and len(sizes) == 26


def test_volumes_travel_gzipped_and_inflate_to_the_same_image(volume, affine, frontend):
    v = Viewer(chunk_bytes=1000)
    fe = frontend(v)
    fe.ready()
    layer = v.open(volume, affine=affine)
    begin = fe.of_type("begin")[0][0]
    assert begin["encoding"] == "gzip" and begin["format"] == "nii"
    assert all(b[0].nbytes <= 1000 for _, b in fe.of_type("chunk"))
    assert v.bytes_sent == begin["total"] < (352 + volume.nbytes) / 3
    assert_same_image(fe.image(layer.id), nib.Nifti1Image(volume, affine))


@pytest.mark.parametrize(("suffix", "image"),
                         [(".nii.gz", nib.Nifti1Image), (".mgz", nib.MGHImage)])
def test_a_gzipped_file_travels_as_stored(volume, affine, frontend, tmp_path, suffix, image):
    path = tmp_path / f"t1{suffix}"
    image(volume.astype(np.float32), affine).to_filename(path)
    v = Viewer()
    fe = frontend(v)
    fe.ready()
    layer = v.open(path)
    assert fe.of_type("begin")[0][0]["format"] == ("mgh" if suffix == ".mgz" else "nii")
    sent = b"".join(bytes(b[0]) for _, b in fe.of_type("chunk"))
    assert sent == path.read_bytes() and v.bytes_sent == path.stat().st_size
    assert_same_image(fe.image(layer.id), nib.Nifti1Image(volume, affine))


def test_a_file_of_another_shape_is_sent_as_the_volume_shown(volume, affine, frontend,
                                                              tmp_path):
    path = tmp_path / "one_frame.nii.gz"  # 4-D with one frame: the viewer shows it as 3-D
    nib.Nifti1Image(volume[..., None], affine).to_filename(path)
    v = Viewer()
    fe = frontend(v)
    fe.ready()
    layer = v.open(path)
    assert layer.volume.shape == volume.shape
    assert_same_image(fe.image(layer.id), nib.Nifti1Image(volume, affine))


def test_meshes_and_fibers_travel_as_typed_parts(files, frontend):
    v = Viewer()
    fe = frontend(v)
    fe.ready()
    mesh = v.open(files["gii"])
    tract = v.open(files["tck"])
    blob, parts = fe.assemble(mesh.id)
    verts = np.frombuffer(blob, np.float32, count=parts["vertices"]["nbytes"] // 4,
                          offset=parts["vertices"]["offset"])
    faces = np.frombuffer(blob, np.uint32, count=parts["faces"]["nbytes"] // 4,
                          offset=parts["faces"]["offset"])
    np.testing.assert_array_equal(verts.reshape(-1, 3), mesh.data.vertices)
    np.testing.assert_array_equal(faces.reshape(-1, 3), mesh.data.faces)
    blob, parts = fe.assemble(tract.id)
    assert parts["offsets"]["offset"] % 8 == 0
    offsets = np.frombuffer(blob, np.uint32, count=parts["offsets"]["nbytes"] // 4,
                            offset=parts["offsets"]["offset"])
    np.testing.assert_array_equal(offsets, tract.data.offsets)


def test_a_reloaded_page_gets_only_what_it_lacks(volume, frontend):
    v = Viewer()
    fe = frontend(v)
    fe.ready()
    a = v.open(volume, name="a")
    v.open(volume, name="b")
    fe.messages.clear()
    fe.ready(have={a.id: 1})
    assert {c["id"] for c, _ in fe.of_type("begin")} == {v.layers[1]["id"]}


def test_changes_from_the_page_do_not_bump_seq_but_update_python(volume, affine):
    v = Viewer(volume)
    seq = v.seq
    v.set_state({"position": [1.0, 2.0, 3.0], "window": [300.0, 600.0], "ack": seq, "frame": 9})
    assert v.seq == seq
    assert v.position == (1.0, 2.0, 3.0) and v.value == volume[1, 2, 3]
    assert v.layers[0]["window"] == [300.0, 600.0]
    assert (v.ack, v.frame) == (seq, 9)
    v.position = (0.0, 0.0, 0.0)  # from Python: the page must redraw and acknowledge
    assert v.seq > seq


# ---------------------------------------------------------------- masks and pen strokes


def test_mask_diffs_send_only_the_bounding_box(volume, affine, frontend):
    v = Viewer(volume)
    fe = frontend(v)
    fe.ready()
    roi = v.set_mask(np.zeros(volume.shape, bool), name="roi")
    assert v.draw_target == roi.id and roi.role == "mask" and roi.color == [255, 0, 0]
    fe.messages.clear()
    v.update_mask(((2, 5), (3, 7), (4, 5)), np.ones((3, 4, 1), bool))
    [(msg, bufs)] = fe.messages
    assert msg["type"] == "mask_diff" and msg["seq"] == v.seq
    assert msg["bbox"] == ([4, 5, 3, 7, 2, 5] if roi.data.transposed else [2, 5, 3, 7, 4, 5])
    assert bufs[0].nbytes == 12
    assert roi.data.data.sum() == 12 and roi.data.data[2:5, 3:7, 4].all()
    v.update_mask((slice(2, 3), slice(3, 4), slice(4, 5)), np.zeros((1, 1, 1)))
    assert roi.data.data.sum() == 11
    # a page that reloads gets the edited mask
    fe.messages.clear()
    fe.ready()
    blob, _ = fe.assemble(roi.id)
    assert np.asarray(nib.Nifti1Image.from_bytes(blob).dataobj).sum() == 11


@pytest.mark.parametrize("order", ["C", "F"])
def test_mask_diffs_land_where_python_put_them(volume, affine, frontend, order):
    """Apply the diffs as viewer.js does; the page's mask must equal Python's, voxel by voxel."""
    v = Viewer(volume)
    fe = frontend(v)
    fe.ready()
    roi = v.set_mask(np.zeros(volume.shape, np.uint8, order=order), affine, name="roi")
    rng = np.random.default_rng(1)
    for _ in range(5):
        lo = rng.integers(0, np.array(volume.shape) - 3)
        hi = lo + rng.integers(1, 4, size=3)
        box = list(zip(lo.tolist(), hi.tolist(), strict=True))
        v.update_mask(box, rng.integers(0, 2, size=tuple(hi - lo)))
    assert roi.data.data.sum() > 0
    assert_same_image(fe.image(roi.id), nib.Nifti1Image(roi.data.data, affine))


def test_set_mask_again_replaces_the_data_with_a_new_version(volume, frontend):
    v = Viewer(volume)
    fe = frontend(v)
    fe.ready()
    roi = v.set_mask(volume > 1000, name="roi", color="yellow", outline=True)
    again = v.set_mask(volume > 2000, name="roi")
    assert again.id == roi.id and v.layers[-1]["version"] == 2
    assert roi.color == [255, 230, 0] and roi.outline
    assert [c["version"] for c, _ in fe.of_type("begin") if c["id"] == roi.id] == [1, 2]


def test_bad_mask_updates(volume):
    v = Viewer(volume)
    with pytest.raises(ImagingError, match="no mask; call viewer.set_mask"):
        v.update_mask(((0, 1), (0, 1), (0, 1)), np.ones((1, 1, 1)))
    v.set_mask(volume > 0, name="roi")
    with pytest.raises(ImagingError,
                       match=r"values have shape \(2, 2, 2\), bbox needs \(1, 1, 1\)"):
        v.update_mask(((0, 1), (0, 1), (0, 1)), np.ones((2, 2, 2)))
    with pytest.raises(ImagingError, match="outside the mask's shape"):
        v.update_mask(((0, 99), (0, 1), (0, 1)), np.ones((99, 1, 1)))
    with pytest.raises(ImagingError, match="is a background, not a mask"):
        v.update_mask(((0, 1), (0, 1), (0, 1)), np.ones((1, 1, 1)), layer=v.layers[0]["name"])


def test_pen_strokes_arrive_in_the_draw_targets_voxel_grid(volume, affine, frontend):
    v = Viewer(volume)
    roi = v.set_mask(np.zeros(volume.shape, np.uint8), affine, name="roi")
    fe = frontend(v)
    events = []
    v.on_draw(events.append)
    world = [list((affine @ [4, 5, 6, 1])[:3]), [1e4, 0, 0]]
    fe.draw(phase="move", buttons=2, viewport=0, axis="axial", points=world, shift=False)
    [e] = events
    assert e.phase == "move" and e.erase and e.axis == "axial"
    assert e.layer == "roi" and e.layer_id == roi.id
    assert e.voxels[0].tolist() == [4, 5, 6] and e.inside.tolist() == [True, False]
    np.testing.assert_allclose(e.world, world)


def test_without_a_mask_strokes_use_the_viewports_background(volume, frontend):
    v = Viewer(volume)
    fe = frontend(v)
    seen = []
    v.on_draw(seen.append)
    fe.draw(phase="down", buttons=1, viewport=0, points=[[1.0, 2.0, 3.0]])
    assert seen[0].layer == v.layers[0]["name"] and seen[0].voxels.tolist() == [[1, 2, 3]]
    v.on_draw(seen.append, remove=True)
    fe.draw(phase="up", buttons=1, viewport=0, points=[])
    assert len(seen) == 1


# ---------------------------------------------------------------- errors in the API


def test_bad_arguments_say_what_is_allowed(volume, tmp_path):
    v = Viewer()
    with pytest.raises(ImagingError, match="viewport must be an index 0..8"):
        v.open(volume, viewport=9)
    with pytest.raises(ImagingError, match="unknown role 'label'"):
        v.open(volume, role="label")
    with pytest.raises(ImagingError, match=r"affine for array must be a 4x4 matrix"):
        v.open(volume, affine=np.eye(3))
    with pytest.raises(ImagingError, match="unknown color 'mauve'"):
        v.set_mask(volume > 0, color="mauve")
    with pytest.raises(ImagingError, match=r"notes\.txt"):
        (tmp_path / "notes.txt").write_text("x")
        v.open(tmp_path / "notes.txt")
    with pytest.raises(ImagingError, match="no layer 'nope'"):
        v.layer("nope")
    assert v.layers == []  # nothing half-added


def test_surfaces_cannot_be_masks(files):
    with pytest.raises(ImagingError, match="is a surface; it cannot be opened as 'mask'"):
        Viewer().open(files["gii"], role="mask")


def test_close_layer_and_clear(volume):
    v = Viewer(volume, volume)
    roi = v.set_mask(volume > 5, name="roi")
    roi.close()
    assert v.draw_target == "" and len(v.layers) == 2
    v.layer(v.layers[0]["name"]).close()
    assert len(v.layers) == 1 and len(v._data) == 1
    v.clear()
    assert v.layers == [] and v._data == {}


def test_python_reacting_to_the_page_still_gets_its_changes_acknowledged(volume):
    """An observer of a page-made change (here: ack) that moves the crosshair must get a
    new seq, or nothing would ever acknowledge its redraw (a chain of moves would stall)."""
    v = Viewer(volume)
    moved = []

    def chain(change):
        if not moved:
            moved.append(v.seq)
            v.position = (1.0, 1.0, 1.0)

    v.observe(chain, "ack")
    v.set_state({"ack": v.seq})
    assert v.seq == moved[0] + 1


def test_a_file_dropped_on_the_page_is_named_in_the_kernel_never_sent(volume, frontend):
    v = Viewer(volume)
    fe = frontend(v)
    fe.ready()
    sent = v.bytes_sent
    v._on_frontend_msg(v, {"type": "dropped", "names": ["t1.nii.gz"]}, [])
    assert v.dropped == ["t1.nii.gz"] and len(v.layers) == 1 and v.bytes_sent == sent


def test_each_viewer_carries_a_small_loader_and_the_module_goes_once_on_request(frontend):
    import gzip

    v = Viewer()
    assert len(v._esm) < 4000 and "DecompressionStream" in v._esm
    assert "nora/static/viewer-" in v._esm  # first from the page's server (tests/hub)
    bundle = (WIDGETS / "static" / "viewer.js").read_bytes()
    head = re.search(r"source-sha256: ([0-9a-f]{16})", bundle[:400].decode()).group(1)
    assert f"HASH = '{head}'" in v._esm  # a new bundle never reuses an old module
    fe = frontend(v)
    v._on_frontend_msg(v, {"type": "esm"}, [])
    (content, buffers), = fe.messages
    assert content == {"type": "esm"} and gzip.decompress(bytes(buffers[0])) == bundle
    assert buffers[0].nbytes < len(bundle) / 2

"""Streamlines: TCK/TRK I/O, selections, visitation and terminal maps."""

import nibabel as nib
import numpy as np
import pytest

from nora_lab.errors import ImagingError
from nora_lab.imaging import (
    ROI,
    by_waypoints,
    delete_streamlines,
    keep_streamlines,
    load_streamlines,
    save_streamlines,
    terminal_map,
    through_roi,
    through_sphere,
    visitation_map,
)


def lines():
    """Three straight streamlines along x at y = 0, 5, 10 (z = 0), points every 2 mm."""
    x = np.arange(0, 21, 2.0)
    return [np.column_stack([x, np.full_like(x, y), np.zeros_like(x)]).astype(np.float32)
            for y in (0, 5, 10)]


def ref_img(shape=(25, 15, 3)):
    aff = np.eye(4)
    aff[2, 3] = -1
    return nib.Nifti1Image(np.zeros(shape, np.float32), aff)


@pytest.mark.parametrize("ext", [".tck", ".trk"])
def test_save_and_load_round_trip(tmp_path, ext):
    path = save_streamlines(lines(), tmp_path / f"t{ext}", reference=ref_img())
    back = load_streamlines(path)
    assert len(back) == 3
    for a, b in zip(back, lines(), strict=True):
        assert np.allclose(a, b, atol=1e-4)


def test_trk_without_a_reference_is_refused_or_placed_with_one(tmp_path):
    with pytest.raises(ImagingError, match="needs reference"):
        save_streamlines(lines(), tmp_path / "x.trk")
    # a TrackVis file whose header has no vox_to_ras (old TrackVis)
    tract = nib.streamlines.Tractogram(lines(), affine_to_rasmm=np.eye(4))
    hdr = {"dimensions": np.array([25, 15, 3], np.int16), "voxel_sizes": np.ones(3, np.float32),
           "voxel_to_rasmm": np.eye(4, dtype=np.float32), "voxel_order": b"RAS"}
    nib.streamlines.TrkFile(tract, header=hdr).save(str(tmp_path / "old.trk"))
    raw = bytearray((tmp_path / "old.trk").read_bytes())
    raw[440:504] = bytes(64)  # zero the vox_to_ras field of the 1000-byte header
    (tmp_path / "old.trk").write_bytes(bytes(raw))
    with pytest.raises(ImagingError, match="TRK file without a reference"):
        load_streamlines(tmp_path / "old.trk")
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    placed = load_streamlines(tmp_path / "old.trk",
                              reference=nib.Nifti1Image(np.zeros((25, 15, 3)), aff))
    assert np.allclose(placed[1][1], [4, 10, 0], atol=1e-4)  # voxel coords (2, 5, 0) -> x2 mm


def test_unknown_format_and_unreadable_files(tmp_path):
    with pytest.raises(ImagingError, match=".tck or .trk"):
        save_streamlines(lines(), tmp_path / "x.vtk")
    (tmp_path / "bad.tck").write_bytes(b"garbage")
    with pytest.raises(ImagingError, match="bad.tck"):
        load_streamlines(tmp_path / "bad.tck")


def test_sphere_selection_tests_segments_not_only_points():
    sel = through_sphere(lines(), [3, 5, 0], 0.5)  # between points x=2 and x=4 of the middle line
    assert sel.tolist() == [False, True, False]
    assert through_sphere(lines(), [3, 2.5, 0], 2.6).tolist() == [True, True, False]


def test_roi_selection_and_its_negation():
    roi = ROI(np.zeros((25, 15, 3)), ref_img().affine)
    roi.data[7, 9:12, 1] = True  # world x = 7, y 9..11: between points of the y=10 line
    sel = through_roi(lines(), roi)
    assert sel.tolist() == [False, False, True]
    assert (~sel).tolist() == [True, True, False]
    roi.clear()
    roi.data[20, 0, 1] = True
    assert through_roi(lines(), roi, endpoints_only=True).tolist() == [True, False, False]


def test_waypoints_all_and_in_order():
    wp = [[2, 10, 0], [18, 10, 0]]
    assert by_waypoints(lines(), wp, 1).tolist() == [False, False, True]
    assert by_waypoints(lines(), wp[::-1], 1, ordered=True).tolist() == [False, False, True]
    zigzag = [np.array([[0, 0, 0], [10, 0, 0], [0, 0, 0.5], [10, 0, 0.5]], np.float32)]
    assert by_waypoints(zigzag, [[10, 0, 0], [0, 0, 0], [5, 0, 0]], 0.3,
                        ordered=True).tolist() == [False]
    assert by_waypoints(zigzag, [[0, 0, 0], [10, 0, 0]], 0.3, ordered=True).tolist() == [True]


def test_keep_and_delete_selections():
    sel = np.array([True, False, True])
    assert [s[0, 1] for s in keep_streamlines(lines(), sel)] == [0, 10]
    assert [s[0, 1] for s in delete_streamlines(lines(), sel)] == [5]
    with pytest.raises(ImagingError, match="entries for 3 streamlines"):
        delete_streamlines(lines(), [True])


def test_visitation_counts_each_streamline_once_per_voxel():
    loop = np.array([[1, 1, 0], [3, 1, 0], [3, 3, 0], [1, 3, 0], [1, 1, 0], [3, 1, 0]], np.float32)
    twice = [loop, loop[:2]]
    vis = np.asarray(visitation_map(twice, ref_img()).dataobj)
    assert vis[1, 1, 1] == 2 and vis[2, 1, 1] == 2 and vis[3, 3, 1] == 1
    # the loop: perimeter of the 3x3 square = 8 voxels, the short line adds 3 (x = 1..3)
    assert vis.sum() == 8 + 3


def test_visitation_of_straight_lines_and_terminal_map():
    vis = np.asarray(visitation_map(lines(), ref_img()).dataobj)
    assert vis[:21, [0, 5, 10], 1].min() == 1 and vis.sum() == 3 * 21  # no voxel skipped
    term = np.asarray(terminal_map(lines(), ref_img()).dataobj)
    assert term[0, [0, 5, 10], 1].tolist() == [1, 1, 1] and term[20, [0, 5, 10], 1].tolist() == [1,
                                                                                                 1,
                                                                                                 1]
    assert term.sum() == 6


def test_visitation_equals_a_brute_force_count():
    rng = np.random.default_rng(0)
    sl = [np.cumsum(rng.normal(0, 0.4, (rng.integers(2, 40), 3)), 0).astype(np.float32) + 10
          for _ in range(200)]
    ref = nib.Nifti1Image(np.zeros((20, 20, 20), np.float32), np.eye(4))
    vis = np.asarray(visitation_map(sl, ref, step=0.05).dataobj)
    brute = np.zeros((20, 20, 20), int)
    for s in sl:
        dense = np.vstack([a + (b - a) * t for a, b in zip(s[:-1], s[1:], strict=True)
                           for t in np.linspace(0, 1, 40, endpoint=False)] + [s[-1:]])
        v = {tuple(p) for p in np.rint(dense).astype(int) if np.all((p >= 0) & (p < 20))}
        for p in v:
            brute[p] += 1
    assert np.abs(vis - brute).sum() <= 0.01 * brute.sum()  # sampling density differs slightly

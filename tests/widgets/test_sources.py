"""What the viewer can open, and the errors it gives for what it cannot."""

from __future__ import annotations

import io

import nibabel as nib
import numpy as np
import pytest

from nora_lab.errors import ImagingError, NoraError
from nora_lab.widgets._sources import MeshData, TractData, VolumeData, load

from .conftest import assert_same_image, streamlines, tetrahedron


@pytest.mark.parametrize("fmt", ["nii", "nii.gz", "mgz", "mgh", "nrrd"])
def test_every_volume_format_opens_with_its_data_and_world_geometry(files, fmt, volume, affine):
    v = load(files[fmt])
    assert isinstance(v, VolumeData)
    assert v.shape == volume.shape
    np.testing.assert_array_equal(np.asarray(v.data) * v.slope + v.inter, volume)
    np.testing.assert_allclose(v.affine, affine, atol=1e-4)  # NRRD's LPS turned into RAS
    assert v.data.flags.f_contiguous  # x fastest, as NIfTI wants it on the wire
    assert v.name == "ramp"


def test_nibabel_image_and_numpy_array_with_affine(volume, affine):
    from_img = load(nib.Nifti1Image(volume, affine))
    from_arr = load(volume, affine=affine, name="ramp")
    for v in (from_img, from_arr):
        assert v.data.dtype == np.int16
        np.testing.assert_array_equal(v.data, volume)
        np.testing.assert_array_equal(v.affine, affine)


def test_scaled_ct_stays_integer_and_carries_its_slope(tmp_path, volume, affine):
    img = nib.Nifti1Image(volume, affine)
    img.header.set_slope_inter(2.0, -1024.0)
    nib.save(img, tmp_path / "ct.nii.gz")
    v = load(tmp_path / "ct.nii.gz")
    assert v.data.dtype == np.int16 and (v.slope, v.inter) == (2.0, -1024.0)
    hdr = nib.Nifti1Header.from_fileobj(io.BytesIO(v.header_bytes()))
    assert hdr.get_slope_inter() == (2.0, -1024.0)
    assert v.value_at(affine @ [3, 4, 5, 1]) == 2.0 * volume[3, 4, 5] - 1024.0


@pytest.mark.parametrize("dtype, wire", [
    (np.bool_, np.uint8), (np.int8, np.int16), (np.uint8, np.uint8), (np.uint16, np.uint16),
    (np.int32, np.int16), (np.int64, np.int16), (np.float64, np.float32), (np.float16, np.float32),
])
def test_voxels_keep_a_dtype_the_front_end_can_take(dtype, wire):
    assert load(np.ones((3, 4, 5), dtype=dtype)).data.dtype == wire


def test_wide_integers_that_do_not_fit_16_bits_become_float32():
    a = np.zeros((2, 2, 2), np.int32)
    a[0, 0, 0] = 100_000
    v = load(a)
    assert v.data.dtype == np.float32 and v.data[0, 0, 0] == 100_000


def test_header_describes_the_voxels(volume, affine):
    v = load(np.asfortranarray(volume), affine=affine)
    assert not v.transposed
    blob = v.header_bytes()
    assert len(blob) == 352
    hdr = nib.Nifti1Header.from_fileobj(io.BytesIO(blob))
    assert hdr.get_data_shape() == volume.shape and hdr.get_data_dtype() == np.int16
    np.testing.assert_allclose(hdr.get_best_affine(), affine)
    assert int(hdr["vox_offset"]) == 352
    label = nib.Nifti1Header.from_fileobj(io.BytesIO(v.header_bytes(label=True)))
    assert label.get_intent()[0] == "label"


def test_c_ordered_arrays_travel_transposed_without_a_copy(volume, affine):
    """NIfTI wants x fastest; a C array is that for its transpose, so it is sent as the
    transpose with the voxel axes of the affine reversed: the same image in world space."""
    v = load(volume, affine=affine)
    assert v.transposed and np.shares_memory(v.data, volume)
    wire, wire_affine = v.wire()
    assert wire.flags.f_contiguous and wire.shape == volume.shape[::-1]
    hdr = nib.Nifti1Header.from_fileobj(io.BytesIO(v.header_bytes()))
    assert hdr.get_data_shape() == volume.shape[::-1]
    assert_same_image(nib.Nifti1Image(np.asarray(wire), wire_affine),
                      nib.Nifti1Image(volume, affine))
    assert v.wire_bbox([(1, 2), (3, 4), (5, 6)]) == [(5, 6), (3, 4), (1, 2)]


def test_2d_arrays_get_one_slice_and_singleton_4d_is_squeezed():
    assert load(np.zeros((5, 6))).shape == (5, 6, 1)
    assert load(np.zeros((5, 6, 7, 1))).shape == (5, 6, 7)


def test_value_and_voxel_lookup(volume, affine):
    v = load(volume, affine=affine)
    world = affine @ [7, 11, 3, 1]
    assert v.voxel_of(world) == (7, 11, 3)
    assert v.value_at(world) == volume[7, 11, 3]
    assert np.isnan(v.value_at([1e4, 0, 0]))
    assert v.center_mm() == pytest.approx(tuple((affine @ [9.5, 11.5, 7.5, 1])[:3]))


def test_auto_window_is_the_robust_range(volume):
    level, width = load(volume).auto_window()
    lo, hi = np.percentile(volume, [2, 98])
    assert level == pytest.approx((lo + hi) / 2) and width == pytest.approx(hi - lo)


def test_surfaces_from_gifti_file_object_and_arrays(files):
    verts, faces = tetrahedron()
    for m in (load(files["gii"]), load(nib.load(files["gii"])), load((verts, faces))):
        assert isinstance(m, MeshData)
        np.testing.assert_array_equal(m.vertices, verts)
        np.testing.assert_array_equal(m.faces, faces)
        assert m.vertices.dtype == np.float32 and m.faces.dtype == np.uint32
    assert load(files["gii"]).name == "tetra.surf"


@pytest.mark.parametrize("fmt", ["tck", "trk"])
def test_fibers_from_tck_and_trk(files, fmt):
    t = load(files[fmt])
    assert isinstance(t, TractData)
    sl = streamlines()
    assert t.n_streamlines == len(sl)
    np.testing.assert_array_equal(t.offsets, np.r_[0, np.cumsum([len(s) for s in sl])])
    np.testing.assert_allclose(t.points, np.concatenate(sl), atol=1e-3)  # world (RAS mm)


def test_fibers_from_a_tractogram_object():
    t = load(nib.streamlines.Tractogram(streamlines(), affine_to_rasmm=np.eye(4)), name="cst")
    assert t.name == "cst" and t.points.shape == (46, 3)


# ---------------------------------------------------------------- bad input


def test_unsupported_file_names_the_file(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello")
    with pytest.raises(ImagingError, match=r"notes\.txt.*unsupported file type '\.txt'") as e:
        load(p)
    assert isinstance(e.value, NoraError)


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(ImagingError, match=r"nothere\.nii\.gz: no such file"):
        load(tmp_path / "nothere.nii.gz")


def test_corrupt_nifti_names_the_file_and_the_reason(tmp_path):
    p = tmp_path / "broken.nii"
    p.write_bytes(b"\x00" * 100)
    with pytest.raises(ImagingError, match=r"cannot open .*broken\.nii: "):
        load(p)


def test_gifti_without_a_surface_is_refused(tmp_path):
    p = tmp_path / "thickness.func.gii"
    nib.save(nib.gifti.GiftiImage(darrays=[nib.gifti.GiftiDataArray(np.zeros(4, np.float32))]), p)
    with pytest.raises(ImagingError, match=r"thickness\.func\.gii.*no surface"):
        load(p)


@pytest.mark.parametrize("affine, message", [
    (np.eye(3), r"4x4 matrix .* got shape \(3, 3\)"),
    (np.zeros((4, 4)), "singular"),
    (np.full((4, 4), np.nan), "NaN"),
    ([[1, 2], [3, 4]], r"4x4"),
])
def test_bad_affines_are_refused(affine, message):
    with pytest.raises(ImagingError, match=message):
        load(np.zeros((4, 4, 4)), affine=affine)


def test_3x4_affine_is_completed():
    assert load(np.zeros((2, 2, 2)), affine=np.eye(4)[:3]).affine.shape == (4, 4)


@pytest.mark.parametrize("arr, message", [
    (np.zeros((4, 4, 4, 3)), r"3-D volume, got shape \(4, 4, 4, 3\).*slicer"),
    (np.zeros((4, 4, 4), np.complex64), "complex"),
    (np.zeros((0, 4, 4)), "empty"),
])
def test_bad_arrays_are_refused(arr, message):
    with pytest.raises(ImagingError, match=message):
        load(arr)


def test_files_bring_their_own_affine(files):
    with pytest.raises(ImagingError, match="brings its own affine"):
        load(files["nii"], affine=np.eye(4))


def test_bad_mesh_arrays_are_refused():
    verts, faces = tetrahedron()
    with pytest.raises(ImagingError, match="outside 0..3"):
        load((verts, faces + 1))
    with pytest.raises(ImagingError, match=r"\(N, 3\)"):
        load((verts[:, :2], faces))


def test_unknown_objects_are_refused():
    with pytest.raises(ImagingError, match="object of type dict"):
        load({"a": 1})

"""ROI statistics for every ROI × contrast pair."""

import nibabel as nib
import numpy as np
import pytest

from nora_lab.errors import ImagingError
from nora_lab.imaging import ROI, roi_statistics


def test_sphere_volume_in_ml_within_one_percent(make_sphere):
    r = 20.0
    img = make_sphere(shape=(60, 60, 40), voxel=(0.8, 0.8, 1.2), radius_mm=r, value=1)
    roi = ROI.from_reference(img, window=(0.5, 1))
    df = roi_statistics(roi, img)
    exact = 4 / 3 * np.pi * r**3 / 1000
    assert df.loc[0, "volume_ml"] == pytest.approx(exact, rel=0.01)
    assert df.loc[0, "voxels"] == roi.count
    assert np.allclose(df.loc[0, ["cog_x", "cog_y", "cog_z"]].astype(float), [23.6, 23.6, 23.4])


def test_percentiles_mean_std_of_known_values():
    data = np.zeros((4, 4, 4), np.float32)
    vals = np.array([1, 2, 3, 4, 5, 6, 7, 8], np.float32)
    data[0, 0, :4], data[1, 1, :4] = vals[:4], vals[4:]
    mask = data > 0
    df = roi_statistics(ROI(mask, np.eye(4), name="r"), {"c": nib.Nifti1Image(data, np.eye(4))})
    row = df.iloc[0]
    assert (row.roi, row.contrast) == ("r", "c")
    assert row["median"] == 4.5 and row.iqr1 == 2.75 and row.iqr2 == 6.25
    assert row["mean"] == 4.5 and row["std"] == pytest.approx(np.std(vals, ddof=1))
    assert row["min"] == 1 and row["max"] == 8 and row.outside_voxels == 0


def test_one_row_per_roi_and_contrast_on_different_grids(ramp):
    a = ROI(np.zeros((20, 20, 20)), ramp.affine, name="a")
    a.data[5:8, 5:8, 5:8] = True  # world x = -5..-3
    b = ROI(np.zeros((10, 10, 10)), np.diag([2.0, 2.0, 2.0, 1.0]), name="b")
    b.data[2, 2, 2] = True  # world (4, 4, 4)
    shifted = np.eye(4)
    shifted[:3, 3] = [-12.5, -11, -9]  # ramp on an offset grid: value = world x still
    ramp2 = nib.Nifti1Image(np.asarray(ramp.dataobj) + np.float32(-2.5 + 10 - 10), shifted)
    df = roi_statistics([a, b], {"ramp": ramp, "ramp_shifted": ramp2})
    assert len(df) == 4
    assert df.set_index(["roi", "contrast"]).loc[("a", "ramp"), "mean"] == pytest.approx(-4)
    assert df.set_index(["roi", "contrast"]).loc[("b", "ramp"), "mean"] == pytest.approx(4)
    # ramp2 holds value x_voxel - 12.5 = world x on its grid too
    assert df.set_index(["roi", "contrast"]).loc[("a", "ramp_shifted"), "mean"] == pytest.approx(-4)
    assert df.set_index(["roi", "contrast"]).loc[("b", "ramp_shifted"), "mean"] == pytest.approx(4)


def test_oblique_contrast_is_interpolated_trilinearly():
    # contrast = 3*y + 1 in world mm on a grid rotated 45° about z
    c, s = np.cos(np.pi / 4), np.sin(np.pi / 4)
    aff = np.array([[c, -s, 0, 0], [s, c, 0, -10], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    ijk = np.indices((30, 30, 5)).reshape(3, -1).T
    y = (ijk @ aff[:3, :3].T + aff[:3, 3])[:, 1]
    contrast = nib.Nifti1Image((3 * y + 1).reshape(30, 30, 5).astype(np.float64), aff)
    roi = ROI(np.zeros((10, 10, 5)), np.eye(4))
    roi.data[3:6, 4, 2] = True  # world y = 4
    assert roi_statistics(roi, contrast).loc[0, "mean"] == pytest.approx(13)


def test_voxels_outside_a_contrast_are_counted_not_averaged(ramp):
    roi = ROI(np.zeros((30, 20, 20)), ramp.affine)
    roi.data[18:22, 10, 10] = True  # x voxels 20, 21 lie beyond the ramp
    row = roi_statistics(roi, ramp).iloc[0]
    assert row.voxels == 4 and row.outside_voxels == 2  # the ramp ends at voxel 19.5
    assert row["max"] == 9
    with pytest.raises(ImagingError, match="2 of 4 voxels of ROI 'roi' lie outside contrast"):
        roi_statistics(roi, ramp, strict=True)


def test_area_for_single_slice_rois_only():
    aff = np.diag([0.5, 0.5, 3.0, 1.0])
    flat = ROI(np.ones((10, 10)), aff)
    assert roi_statistics(flat).loc[0, "area_cm2"] == pytest.approx(100 * 0.25 / 100)
    vol = ROI(np.zeros((10, 10, 10)), aff)
    vol.data[2:4, 2:4, 5] = True
    assert roi_statistics(vol).loc[0, "area_cm2"] == pytest.approx(4 * 0.25 / 100)
    vol.data[2:4, 2:4, 6] = True
    assert np.isnan(roi_statistics(vol).loc[0, "area_cm2"])


def test_empty_roi_statistics_are_an_error(ramp):
    with pytest.raises(ImagingError, match="ROI 'void' is empty"):
        roi_statistics(ROI(np.zeros((3, 3, 3)), np.eye(4), name="void"), ramp)

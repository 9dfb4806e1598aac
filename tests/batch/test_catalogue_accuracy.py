"""The catalogue's jobs against the libraries they are built on, and against known answers,
on real anatomy (nilearn's MNI152). Called as a notebook would call them: directly.

(Each job runs through the real batch path in test_catalogue_batch.py.)"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import test_catalogue_data as data
from test_catalogue_data import dice, mni, save, synthetic_dwi

from nora_lab.batch.catalogue import bias, brain, diffusion, registration, tissue

home, templates_home = data.home, data.templates_home  # fixtures


def _arr(path) -> np.ndarray:
    return np.asarray(nib.load(str(path)).dataobj)


def test_n4_equals_simpletk_called_directly_with_the_same_settings(tmp_path):
    src = save(mni(3)["t1"], tmp_path / "t1.nii.gz")
    # a smooth multiplicative bias, as a coil would give
    img = nib.load(src)
    x = np.linspace(-1, 1, img.shape[0])[:, None, None]
    biased = nib.Nifti1Image(img.get_fdata(dtype=np.float32) * np.exp(0.3 * x).astype(np.float32), img.affine)
    src = save(biased, tmp_path / "biased.nii.gz")
    out = tmp_path / "out/n4.nii.gz"
    bias.n4(src, str(out), shrink=2, iterations="20,20,20", convergence=0.001)

    raw = sitk.ReadImage(src, sitk.sitkFloat32)
    small = sitk.Shrink(raw, [2, 2, 2])
    f = sitk.N4BiasFieldCorrectionImageFilter()
    f.SetMaximumNumberOfIterations([20, 20, 20])
    f.SetConvergenceThreshold(0.001)
    f.Execute(small, sitk.OtsuThreshold(small, 0, 1, 200))
    want = sitk.GetArrayFromImage(raw / sitk.Exp(f.GetLogBiasFieldAsImage(raw))).transpose(2, 1, 0)
    got = _arr(out)
    np.testing.assert_array_equal(got, want.astype(np.float32))
    # and it did correct something: the left-right gradient of the WM is mostly gone
    wm = mni(3)["wm"].get_fdata() > 0.9
    half = img.shape[0] // 2
    ratio = lambda a: a[:half][wm[:half]].mean() / a[half:][wm[half:]].mean()  # noqa: E731
    assert abs(ratio(got) - 1) < 0.5 * abs(ratio(biased.get_fdata()) - 1)


def _rigid(img: sitk.Image) -> sitk.Euler3DTransform:
    tx = sitk.Euler3DTransform()
    centre = img.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in img.GetSize()])
    tx.SetCenter(centre)
    tx.SetRotation(0.10, -0.06, 0.12)          # about 6, 3.4 and 6.9 degrees
    tx.SetTranslation((6.0, -4.0, 5.0))        # mm
    return tx


@pytest.mark.slow
def test_rigid_registration_recovers_a_known_transform_within_1mm_rms(tmp_path, home):
    fixed_path = save(mni(2)["t1"], tmp_path / "fixed.nii.gz")
    fixed = sitk.ReadImage(fixed_path, sitk.sitkFloat32)
    truth = _rigid(fixed)
    # moving(x) = fixed(truth(x)): the registration's fixed->moving map is truth's inverse
    moving = sitk.Resample(fixed, fixed, truth, sitk.sitkLinear, 0.0)
    moving_path = str(tmp_path / "moving.nii.gz")
    sitk.WriteImage(moving, moving_path)
    out, xfm = tmp_path / "reg/moved.nii.gz", tmp_path / "reg/rigid.h5"
    registration.register(moving_path, fixed_path, str(out), str(xfm), method="rigid")

    found = sitk.ReadTransform(str(xfm))
    inverse = truth.GetInverse()
    brain_vox = np.argwhere(mni(2)["mask"].get_fdata() > 0)[::7]
    pts = [fixed.TransformIndexToPhysicalPoint([int(i) for i in v]) for v in brain_vox]
    err = [np.subtract(found.TransformPoint(p), inverse.TransformPoint(p)) for p in pts]
    rms = float(np.sqrt(np.mean(np.sum(np.square(err), axis=1))))
    assert rms < 1.0, f"RMS error over the brain {rms:.2f} mm"
    assert out.is_file() and nib.load(str(out)).shape == nib.load(fixed_path).shape


def _warp(img: nib.Nifti1Image, field_mm: float, interp) -> sitk.Image:
    """A smooth synthetic deformation (a sine displacement of ``field_mm``)."""
    s = sitk.ReadImage(save(img, _warp.tmp / f"w{id(img)}.nii.gz"), sitk.sitkFloat32)
    size = s.GetSize()
    z, y, x = np.meshgrid(*[np.linspace(0, np.pi, n) for n in size[::-1]], indexing="ij")
    disp = np.stack([field_mm * np.sin(y) * np.sin(z), field_mm * np.sin(x) * np.sin(z),
                     0.5 * field_mm * np.sin(x) * np.sin(y)], axis=-1)
    f = sitk.GetImageFromArray(disp.astype(np.float64), isVector=True)
    f.CopyInformation(s)
    return sitk.Resample(s, s, sitk.DisplacementFieldTransform(f), interp, 0.0)


@pytest.mark.slow
def test_deformable_registration_improves_the_dice_of_warped_tissue_maps(tmp_path, home):
    _warp.tmp = tmp_path
    imgs = mni(3)
    fixed_path = save(imgs["t1"], tmp_path / "fixed.nii.gz")
    moving = _warp(imgs["t1"], 6.0, sitk.sitkLinear)
    moving_wm = _warp(nib.Nifti1Image((imgs["wm"].get_fdata() > 0.5).astype(np.float32),
                                      imgs["wm"].affine), 6.0, sitk.sitkNearestNeighbor)
    sitk.WriteImage(moving, str(tmp_path / "moving.nii.gz"))
    sitk.WriteImage(sitk.Cast(moving_wm, sitk.sitkUInt8), str(tmp_path / "moving_wm.nii.gz"))
    wm = imgs["wm"].get_fdata() > 0.5
    scores = {}
    for method in ("affine", "deformable"):
        xfm = tmp_path / f"{method}.h5"
        registration.register(str(tmp_path / "moving.nii.gz"), fixed_path,
                              str(tmp_path / f"{method}.nii.gz"), str(xfm), method=method)
        registration.apply_transform([str(tmp_path / "moving_wm.nii.gz")], fixed_path, str(xfm),
                                     str(tmp_path / method))
        warped = _arr(tmp_path / method / "moving_wm.nii.gz")
        assert warped.dtype == np.uint8 and set(np.unique(warped)) <= {0, 1}  # nearest: labels
        scores[method] = dice(warped > 0, wm)
    assert scores["deformable"] > scores["affine"] + 0.03, scores


@pytest.mark.slow
def test_brain_extraction_and_tissues_agree_with_the_templates_own_maps(tmp_path, home):
    imgs = mni(3)
    t1 = save(imgs["t1"], tmp_path / "t1.nii.gz")
    brain.brain_extract(t1, str(tmp_path / "mask.nii.gz"), str(tmp_path / "brain.nii.gz"),
                        method="affine", resolution=3)
    mask = _arr(tmp_path / "mask.nii.gz")
    assert dice(mask > 0, imgs["mask"].get_fdata() > 0) >= 0.9
    assert _arr(tmp_path / "brain.nii.gz")[mask == 0].max() == 0

    out = {k: str(tmp_path / f"{k}.nii.gz") for k in ("labels", "csf", "gm", "wm")}
    tissue.tissue_segment(t1, str(tmp_path / "mask.nii.gz"), **out)
    for k in ("gm", "wm"):
        d = dice(_arr(out[k]) > 0, imgs[k].get_fdata() > 0.5)
        assert d >= 0.8, f"{k}: Dice {d:.3f}"
    labels = _arr(out["labels"])
    assert set(np.unique(labels)) == {0, 1, 2, 3} and (labels[mask == 0] == 0).all()


def test_fa_equals_dipy_called_directly(tmp_path):
    from dipy.core.gradients import gradient_table
    from dipy.reconst.dti import TensorModel

    img, bvals, bvecs = synthetic_dwi()
    dwi = save(img, tmp_path / "dwi.nii.gz")
    np.savetxt(tmp_path / "dwi.bval", bvals[None], fmt="%g")
    np.savetxt(tmp_path / "dwi.bvec", bvecs.T, fmt="%.8f")
    fa, md = tmp_path / "fa.nii.gz", tmp_path / "md.nii.gz"
    diffusion.dti_fit(dwi, str(tmp_path / "dwi.bval"), str(tmp_path / "dwi.bvec"), str(fa),
                      str(md), brain_mask=False)
    fit = TensorModel(gradient_table(bvals, bvecs=bvecs)).fit(img.get_fdata(dtype=np.float32))
    np.testing.assert_allclose(_arr(fa), np.nan_to_num(fit.fa).astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(_arr(md), np.nan_to_num(fit.md).astype(np.float32), rtol=1e-6)
    assert _arr(fa)[:, 0].mean() < 0.5 < 0.7 < _arr(fa)[:, -1].mean()   # as simulated


def test_tractography_writes_a_tck_the_fiber_tools_read(tmp_path):
    from nora_lab.imaging import load_streamlines

    img, bvals, bvecs = synthetic_dwi((16, 8, 4))
    dwi = save(img, tmp_path / "dwi.nii.gz")
    np.savetxt(tmp_path / "dwi.bval", bvals[None], fmt="%g")
    np.savetxt(tmp_path / "dwi.bvec", bvecs.T, fmt="%.8f")
    tck = tmp_path / "fibers/tracts.tck"
    diffusion.tractography(dwi, str(tmp_path / "dwi.bval"), str(tmp_path / "dwi.bvec"), str(tck),
                           fa_stop=0.2, fa_seed=0.5, brain_mask=False)
    lines = load_streamlines(tck)
    assert len(lines) > 10
    # the simulated fibres run along x: so do the streamlines
    spans = np.array([np.ptp(s, axis=0) for s in lines])
    assert np.median(spans[:, 0]) > 5 * max(np.median(spans[:, 1]), np.median(spans[:, 2]), 0.1)

"""Diffusion with dipy: a tensor fit to FA and MD maps, and deterministic tractography
to a ``.tck`` file (MRtrix format) that the viewer's fiber role shows.

Both jobs read the DWI with its ``.bval``/``.bvec`` files (as dcm2niix writes them) and,
by default, fit inside dipy's ``median_otsu`` brain mask of the b0 volumes.

>>> Job.builtin("dti_fit", dwi="*dti*/s0*.nii", bval="*dti*/s0*.bval", bvec="*dti*/s0*.bvec")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from nora_lab.batch.catalogue._job import catalogue_job, fail, output, read_nib

__all__ = ["dti_fit", "tractography", "tensor_fit"]

_IN = {"dwi": "FILE", "bval": "FILE", "bvec": "FILE"}


def tensor_fit(job: str, dwi: str, bval: str, bvec: str, brain_mask: bool) -> tuple[Any, Any, Any]:
    """``(image, dipy TensorFit, mask)`` as the jobs compute them."""
    import numpy as np
    from dipy.core.gradients import gradient_table
    from dipy.io.gradients import read_bvals_bvecs
    from dipy.reconst.dti import TensorModel
    from dipy.segment.mask import median_otsu

    img = read_nib(dwi, "dwi", job)
    data = np.asarray(img.dataobj, dtype=np.float32)
    try:
        bvals, bvecs = read_bvals_bvecs(bval, bvec)
        gtab = gradient_table(bvals, bvecs=bvecs)
    except Exception as exc:  # noqa: BLE001 - dipy's reason, named
        raise fail(job, f"cannot read the gradient table ({exc})", arg="bval/bvec",
                   path=f"{bval}, {bvec}") from exc
    if data.ndim != 4 or data.shape[-1] != len(bvals):
        raise fail(job, f"the DWI has shape {data.shape} but the gradient table "
                        f"{len(bvals)} directions", arg="dwi", path=dwi)
    mask = None
    if brain_mask:
        b0 = np.flatnonzero(gtab.b0s_mask)
        _, mask = median_otsu(data, vol_idx=b0, median_radius=2, numpass=1)
    return img, TensorModel(gtab).fit(data, mask=mask), mask


def _save(path: str, values: Any, affine: Any) -> None:
    import nibabel as nib
    import numpy as np

    with output(path) as tmp:
        nib.save(nib.Nifti1Image(np.nan_to_num(values).astype(np.float32), affine), tmp)


@catalogue_job("dti_fit", args={**_IN, "fa": "OUT", "md": "OUT"}, library="dipy")
def dti_fit(dwi: str, bval: str, bvec: str, fa: str = "dti/fa.nii.gz TAG(fa)",
            md: str = "dti/md.nii.gz TAG(md)", brain_mask: bool = True) -> None:
    """Tensor fit (dipy ``TensorModel``): fractional anisotropy and mean diffusivity.

    Parameters
    ----------
    dwi, bval, bvec
        The 4D diffusion series and its b-values and gradient directions.
    fa, md
        The FA map and the MD map (mm²/s), float32, 0 outside the mask.
    brain_mask
        Fit inside dipy's ``median_otsu`` mask of the b0 volumes (else everywhere).
    """
    img, fit, _ = tensor_fit("dti_fit", dwi, bval, bvec, brain_mask)
    _save(fa, fit.fa, img.affine)
    _save(md, fit.md, img.affine)


@catalogue_job("tractography", args={**_IN, "tck": "OUT"}, library="dipy")
def tractography(dwi: str, bval: str, bvec: str, tck: str = "dti/tracts.tck TAG(fibers)",
                 fa_stop: float = 0.2, fa_seed: float = 0.3, seeds_per_voxel: int = 1,
                 step_mm: float = 0.5, max_angle: float = 60.0, brain_mask: bool = True) -> None:
    """Deterministic tensor tractography (dipy's EuDX on the tensor's peaks).

    Parameters
    ----------
    dwi, bval, bvec
        The 4D diffusion series and its gradient table.
    tck
        The streamlines (MRtrix ``.tck``, world mm).
    fa_stop
        Tracking stops where FA falls below this.
    fa_seed
        Seeds in every voxel with FA above this.
    seeds_per_voxel
        Seeds per seed voxel (per axis density).
    step_mm
        Step size in mm.
    max_angle
        Largest turn between steps, in degrees.
    brain_mask
        Fit inside dipy's ``median_otsu`` mask of the b0 volumes.
    """
    import numpy as np
    from dipy.data import default_sphere
    from dipy.direction import peaks_from_model
    from dipy.io.stateful_tractogram import Space, StatefulTractogram
    from dipy.io.streamline import save_tractogram
    from dipy.reconst.dti import TensorModel
    from dipy.tracking import utils
    from dipy.tracking.stopping_criterion import ThresholdStoppingCriterion
    from dipy.tracking.streamline import Streamlines
    from dipy.tracking.tracker import eudx_tracking

    img, fit, mask = tensor_fit("tractography", dwi, bval, bvec, brain_mask)
    fa = np.nan_to_num(fit.fa)
    data = np.asarray(img.dataobj, dtype=np.float32)
    peaks = peaks_from_model(TensorModel(fit.model.gtab), data, default_sphere,
                             relative_peak_threshold=0.5, min_separation_angle=25, mask=mask,
                             npeaks=1, legacy=False)
    seeds = utils.seeds_from_mask(fa > float(fa_seed), img.affine,
                                  density=max(1, int(seeds_per_voxel)))
    if not len(seeds):
        raise fail("tractography", f"no voxel has FA above {fa_seed}: nothing to seed from",
                   arg="dwi", path=dwi)
    lines = Streamlines(eudx_tracking(seeds, ThresholdStoppingCriterion(fa, float(fa_stop)),
                                      img.affine, pam=peaks, step_size=float(step_mm),
                                      max_angle=float(max_angle), random_seed=1, nbr_threads=1))
    sft = StatefulTractogram(lines, img, Space.RASMM)
    with output(tck) as tmp:
        save_tractogram(sft, str(tmp), bbox_valid_check=False)

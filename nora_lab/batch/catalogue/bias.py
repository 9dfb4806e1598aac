"""Bias-field correction: SimpleITK's N4 (``N4BiasFieldCorrectionImageFilter``).

N4 is fitted on the image shrunk by ``shrink`` (as ITK's examples do, for speed), inside
an Otsu foreground mask; the fitted log bias field is then evaluated at full
resolution and divided out of the original image.

>>> Job.builtin("n4", image="t1*/s0*.nii", out="derived/t1_n4.nii.gz TAG(n4)")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from nora_lab.batch.catalogue._job import catalogue_job, fail, output, read_sitk

__all__ = ["n4", "n4_filter"]


def _levels(iterations: str, job: str) -> list[int]:
    try:
        levels = [int(x) for x in str(iterations).replace("x", ",").split(",") if x.strip()]
    except ValueError:
        levels = []
    if not levels or min(levels) < 1:
        raise fail(job, f"iterations {iterations!r}: give iterations per level, e.g. '50,50,50,50'")
    return levels


def n4_filter(iterations: str = "50,50,50,50", convergence: float = 0.001) -> Any:
    """The configured ``sitk.N4BiasFieldCorrectionImageFilter`` the job runs (one fitting
    level per entry of ``iterations``)."""
    import SimpleITK as sitk

    f = sitk.N4BiasFieldCorrectionImageFilter()
    f.SetMaximumNumberOfIterations(_levels(iterations, "n4"))
    f.SetConvergenceThreshold(float(convergence))
    return f


@catalogue_job("n4", args={"image": "FILE", "out": "OUT"}, library="SimpleITK")
def n4(image: str, out: str = "derived/n4.nii.gz TAG(n4)", shrink: int = 2,
       iterations: str = "50,50,50,50", convergence: float = 0.001,
       otsu_mask: bool = True) -> None:
    """N4 bias-field correction (SimpleITK).

    Parameters
    ----------
    image
        The image to correct (one file).
    out
        The corrected image (float32).
    shrink
        Fit on the image shrunk by this factor per axis (1: full resolution).
    iterations
        Maximum iterations per fitting level, comma separated (one entry per level).
    convergence
        N4's convergence threshold.
    otsu_mask
        Fit inside an Otsu foreground mask (else over the whole image).
    """
    import SimpleITK as sitk

    img = read_sitk(image, "image")
    factor = max(1, int(shrink))
    small = sitk.Shrink(img, [factor] * img.GetDimension()) if factor > 1 else img
    f = n4_filter(iterations, convergence)
    if otsu_mask:
        f.Execute(small, sitk.OtsuThreshold(small, 0, 1, 200))
    else:
        f.Execute(small)
    corrected = img / sitk.Exp(f.GetLogBiasFieldAsImage(img))
    with output(out) as tmp:
        sitk.WriteImage(sitk.Cast(corrected, sitk.sitkFloat32), str(tmp))

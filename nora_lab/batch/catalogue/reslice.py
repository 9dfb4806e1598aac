"""Resampling onto a reference grid, smoothing and intensity normalisation (SimpleITK).

* ``reslice``: an image onto another's grid, through world coordinates (identity
  transform), linear, nearest-neighbour (labels) or B-spline;
* ``smooth``: Gaussian smoothing by a FWHM in mm (``SmoothingRecursiveGaussian``);
* ``normalize``: z-score (``sitk.Normalize``) or min–max onto [0, 1]
  (``sitk.RescaleIntensity``).

>>> Job.builtin("reslice", image="flair*/s0*.nii", reference="t1*/s0*.nii")  # doctest: +SKIP
"""

from __future__ import annotations

import math

from nora_lab.batch.catalogue._job import catalogue_job, fail, output, read_sitk

__all__ = ["reslice", "smooth", "normalize"]

_INTERP = {"linear": "sitkLinear", "nearest": "sitkNearestNeighbor", "bspline": "sitkBSpline"}


@catalogue_job("reslice", args={"image": "FILE", "reference": "FILE", "out": "OUT",
                                "interpolation": "OPTION(linear|nearest|bspline)"},
               library="SimpleITK")
def reslice(image: str, reference: str, out: str = "derived/resliced.nii.gz TAG(resliced)",
            interpolation: str = "linear") -> None:
    """Resample an image onto the grid of a reference image (world coordinates).

    Parameters
    ----------
    image
        The image to resample (its voxel type is kept).
    reference
        The image whose grid (size, spacing, origin, direction) the output takes.
    out
        The resampled image; zero outside the input's field of view.
    interpolation
        ``linear``, ``nearest`` (labels, ROIs) or ``bspline``.
    """
    import SimpleITK as sitk

    img = read_sitk(image, "image", pixel=sitk.sitkUnknown)
    ref = read_sitk(reference, "reference")
    res = sitk.Resample(img, ref, sitk.Transform(), getattr(sitk, _INTERP[interpolation]), 0.0,
                        img.GetPixelID())
    with output(out) as tmp:
        sitk.WriteImage(res, str(tmp))


@catalogue_job("smooth", args={"image": "FILE", "out": "OUT"}, library="SimpleITK")
def smooth(image: str, out: str = "derived/smoothed.nii.gz TAG(smoothed)", fwhm: float = 6.0) -> None:
    """Gaussian smoothing (``sitk.SmoothingRecursiveGaussian``).

    Parameters
    ----------
    image
        The image.
    out
        The smoothed image (float32).
    fwhm
        Full width at half maximum of the kernel, in mm (sigma = FWHM / 2.3548).
    """
    import SimpleITK as sitk

    if not float(fwhm) > 0:
        raise fail("smooth", f"fwhm {fwhm!r}: give the kernel's width in mm (> 0)")
    img = read_sitk(image, "image")
    sigma = float(fwhm) / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    res = sitk.SmoothingRecursiveGaussian(img, sigma)
    with output(out) as tmp:
        sitk.WriteImage(res, str(tmp))


@catalogue_job("normalize", args={"image": "FILE", "out": "OUT",
                                  "method": "OPTION(zscore|minmax)"}, library="SimpleITK")
def normalize(image: str, out: str = "derived/normalized.nii.gz TAG(normalized)",
              method: str = "zscore") -> None:
    """Intensity normalisation: z-score (mean 0, sd 1) or min–max onto [0, 1].

    Parameters
    ----------
    image
        The image.
    out
        The normalised image (float32).
    method
        ``zscore`` (``sitk.Normalize``) or ``minmax`` (``sitk.RescaleIntensity``).
    """
    import SimpleITK as sitk

    img = read_sitk(image, "image")
    res = sitk.Normalize(img) if method == "zscore" else sitk.RescaleIntensity(img, 0.0, 1.0)
    with output(out) as tmp:
        sitk.WriteImage(res, str(tmp))

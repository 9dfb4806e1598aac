"""Tissue segmentation (CSF, GM, WM) with ANTs Atropos: k-means initialisation and a
Markov random field prior, inside a brain mask.

Classes are ordered by mean intensity, as on a T1: 1 CSF, 2 GM, 3 WM.

>>> Job.builtin("tissue_segment", image="t1*/s0*.nii", mask="brain/mask*")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from nora_lab.batch.catalogue._job import catalogue_job, fail, output, read_ants

__all__ = ["tissue_segment", "atropos"]

CLASSES = ("csf", "gm", "wm")


def atropos(img: Any, mask: Any, mrf: float = 0.2, iterations: int = 5) -> Any:
    """``ants.atropos`` as the job calls it: returns its result dict."""
    import ants

    return ants.atropos(a=img, x=mask, i=f"kmeans[{len(CLASSES)}]", m=f"[{float(mrf)},1x1x1]",
                        c=f"[{int(iterations)},0]", verbose=0)


@catalogue_job("tissue_segment", args={"image": "FILE", "mask": "FILE", "labels": "OUT",
                                       "csf": "OUT", "gm": "OUT", "wm": "OUT"},
               library="antspyx")
def tissue_segment(image: str, mask: str, labels: str = "tissue/labels.nii.gz TAG(tissue)",
                   csf: str = "tissue/csf.nii.gz TAG(roi,csf)",
                   gm: str = "tissue/gm.nii.gz TAG(roi,gm)",
                   wm: str = "tissue/wm.nii.gz TAG(roi,wm)",
                   mrf: float = 0.2, iterations: int = 5) -> None:
    """GM/WM/CSF segmentation of a T1 inside a brain mask (ANTs Atropos).

    Parameters
    ----------
    image
        A (bias-corrected) T1-weighted image.
    mask
        Its brain mask (e.g. ``brain_extract``'s), on any grid: resampled onto the image
        with nearest-neighbour.
    labels
        The label image: 0 outside, 1 CSF, 2 GM, 3 WM.
    csf, gm, wm
        Each class as a binary ROI (uint8).
    mrf
        The MRF smoothing weight.
    iterations
        Atropos' maximum iterations.
    """
    import ants

    img = read_ants(image, "image")
    m = read_ants(mask, "mask")
    if not ants.image_physical_space_consistency(img, m, tolerance=1e-3):
        m = ants.resample_image_to_target(m, img, interp_type="nearestNeighbor")
    m = img.new_image_like((m.numpy() > 0).astype("float32"))
    if m.numpy().sum() < 10:
        raise fail("tissue_segment", "the brain mask is empty on the image's grid",
                   arg="mask", path=mask)
    seg = atropos(img, m, mrf, iterations)["segmentation"]
    lab = seg.numpy().astype("uint8")
    with output(labels) as tmp:
        ants.image_write(img.new_image_like(lab.astype("float32")).astype("uint8"), str(tmp))
    for k, dest in enumerate((csf, gm, wm), 1):
        roi = img.new_image_like((lab == k).astype("float32")).astype("uint8")
        with output(dest) as tmp:
            ants.image_write(roi, str(tmp))

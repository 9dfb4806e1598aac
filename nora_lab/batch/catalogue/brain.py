"""Brain extraction by registration: the MNI152 template (nilearn's, with its brain mask)
is registered onto the image with ANTs, and the template's mask is carried along.

No model weights: an atlas-based mask, as good as the registration (``affine`` for a
quick mask, ``deformable`` to follow the individual anatomy).

>>> Job.builtin("brain_extract", image="t1*/s0*.nii")       # doctest: +SKIP
"""

from __future__ import annotations

from nora_lab.batch.catalogue._job import catalogue_job, output, read_ants
from nora_lab.batch.catalogue.registration import ants_registration
from nora_lab.batch.catalogue.templates import template_file

__all__ = ["brain_extract"]


@catalogue_job("brain_extract", args={"image": "FILE", "mask": "OUT", "brain": "OUT",
                                      "method": "OPTION(affine|deformable|rigid)"},
               library=("antspyx", "nilearn"))
def brain_extract(image: str, mask: str = "brain/mask.nii.gz TAG(brainmask,roi)",
                  brain: str = "brain/brain.nii.gz TAG(brain)", method: str = "affine",
                  resolution: float = 2, threshold: float = 0.5, seed: int = 1) -> None:
    """Brain mask and skull-stripped image, by registration to the MNI152 template.

    Parameters
    ----------
    image
        A T1-weighted image.
    mask
        The brain mask on the image's grid (uint8, 0/1).
    brain
        The image inside the mask (zero outside).
    method
        How the template is registered onto the image: ``affine``, ``deformable``
        (affine + SyN) or ``rigid``.
    resolution
        The template's voxel size in mm used for the registration.
    threshold
        The template mask is interpolated linearly and cut at this value.
    seed
        ANTs' random seed.
    """
    import ants

    img = read_ants(image, "image")
    template = read_ants(str(template_file("t1", resolution)), "template")
    atlas_mask = read_ants(str(template_file("mask", resolution)), "template mask")
    reg = ants_registration(img, template, method, seed, carry={"mask": (atlas_mask, "linear")})
    warped = reg["carried"]["mask"]
    binary = (warped.numpy() >= float(threshold)).astype("uint8")
    m = img.new_image_like(binary.astype("float32")).astype("uint8")
    with output(mask) as tmp:
        ants.image_write(m, str(tmp))
    with output(brain) as tmp:
        ants.image_write(img * m.astype("float32"), str(tmp))

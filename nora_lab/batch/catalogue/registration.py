"""Registration with ANTsPy: one series onto another of the study, or onto a template;
and applying a stored transform to other images and ROIs (SimpleITK).

``register`` and ``register_template`` write the moving image resampled onto the fixed
grid and the transform, as an ITK transform file that SimpleITK, ANTs and 3D Slicer read:
rigid and affine as one linear transform (any ITK extension: ``.h5``, ``.tfm``, ``.mat``),
deformable (ANTs SyN) as a composite of the affine and the displacement field (``.h5``).
The transform maps points of the fixed image to the moving image (ITK's convention), so
``apply_transform`` resamples any image of the moving space onto the fixed grid —
nearest-neighbour for labels and ROIs.

>>> Job.builtin("register_template", moving="t1*/s0*.nii", method="affine")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from nora_lab.batch.catalogue._job import catalogue_job, fail, output, read_ants, read_sitk
from nora_lab.batch.catalogue.templates import template_file

__all__ = ["register", "register_template", "apply_transform", "ants_registration",
           "to_sitk_transform", "METHODS"]

#: our method names -> ANTs' type_of_transform
METHODS = {"rigid": "Rigid", "affine": "Affine", "deformable": "SyN"}


def ants_registration(fixed: Any, moving: Any, method: str, seed: int = 1,
                      carry: dict[str, tuple[Any, str]] | None = None) -> dict[str, Any]:
    """``ants.registration`` as the jobs call it (its files in a temporary folder).

    ``carry`` maps names to ``(image in the moving space, ANTs interpolator)``: each is
    warped onto the fixed grid too (``reg["carried"][name]``). ``reg["sitk_transform"]``
    is the forward transform as one SimpleITK transform.
    """
    import ants

    with tempfile.TemporaryDirectory(prefix="nora-ants-") as tmp:
        reg = ants.registration(fixed, moving, type_of_transform=METHODS[method],
                                random_seed=int(seed), outprefix=os.path.join(tmp, "x"))
        reg["sitk_transform"] = to_sitk_transform(reg["fwdtransforms"])
        reg["carried"] = {name: ants.apply_transforms(fixed, img, reg["fwdtransforms"],
                                                      interpolator=interp)
                          for name, (img, interp) in (carry or {}).items()}
    return reg


def to_sitk_transform(fwdtransforms: list[str]) -> Any:
    """ANTs' forward transform files as one SimpleITK transform (read while they exist).

    ANTs lists ``[warp, affine]`` (the affine applied first); SimpleITK's composite built
    from ``[affine, warp]`` maps points the same way.
    """
    import SimpleITK as sitk

    linear = [sitk.ReadTransform(p) for p in fwdtransforms if not p.endswith(".nii.gz")]
    fields = [sitk.DisplacementFieldTransform(sitk.Cast(sitk.ReadImage(p), sitk.sitkVectorFloat64))
              for p in fwdtransforms if p.endswith(".nii.gz")]
    if not fields and len(linear) == 1:
        return linear[0]
    return sitk.CompositeTransform([*linear, *fields])


def _register(job: str, fixed: Any, moving_path: str, out: str, transform: str, method: str,
              seed: int) -> None:
    import ants
    import SimpleITK as sitk

    if method == "deformable" and not transform.endswith(".h5"):
        raise fail(job, f"a deformable transform is stored as HDF5: name the transform output "
                        f"'*.h5', not {Path(transform).name!r}", arg="transform", path=transform)
    moving = read_ants(moving_path, "moving")
    reg = ants_registration(fixed, moving, method, seed)
    with output(out) as tmp:
        ants.image_write(reg["warpedmovout"], str(tmp))
    with output(transform) as tmp:
        sitk.WriteTransform(reg["sitk_transform"], str(tmp))


_ARGS = {"moving": "FILE", "out": "OUT", "transform": "OUT",
         "method": "OPTION(rigid|affine|deformable)"}


@catalogue_job("register", args={**_ARGS, "fixed": "FILE"}, library=("antspyx", "SimpleITK"))
def register(moving: str, fixed: str, out: str = "reg/moved.nii.gz TAG(registered)",
             transform: str = "reg/transform.h5 TAG(transform)", method: str = "affine",
             seed: int = 1) -> None:
    """Register a series onto another of the study (ANTs: rigid, affine or SyN).

    Parameters
    ----------
    moving, fixed
        The image to move and the image it is registered onto (one file each).
    out
        The moving image resampled onto the fixed grid.
    transform
        The fixed-to-moving transform (``.h5``; ``.tfm``/``.mat`` for rigid and affine).
    method
        ``rigid``, ``affine`` or ``deformable`` (affine + SyN).
    seed
        ANTs' random seed (metric sampling), for repeatable results.
    """
    _register("register", read_ants(fixed, "fixed"), moving, out, transform, method, seed)


@catalogue_job("register_template", args={**_ARGS, "template": "OPTION(mni152)"},
               library=("antspyx", "SimpleITK", "nilearn"))
def register_template(moving: str, out: str = "reg/mni.nii.gz TAG(mni)",
                      transform: str = "reg/to_mni.h5 TAG(transform)", method: str = "affine",
                      template: str = "mni152", resolution: float = 2, seed: int = 1) -> None:
    """Register a series onto the MNI152 template (nilearn's bundled copy).

    Parameters
    ----------
    moving
        The image to move into template space.
    out, transform, method, seed
        As for ``register``.
    template
        ``mni152`` (the 2009 symmetric template shipped inside nilearn).
    resolution
        The template's voxel size in mm (the output grid).
    """
    fixed = read_ants(str(template_file("t1", resolution, template)), "template")
    _register("register_template", fixed, moving, out, transform, method, seed)


_INTERP = {"linear": "sitkLinear", "nearest": "sitkNearestNeighbor", "bspline": "sitkBSpline"}


def _is_label(img: Any) -> bool:
    import SimpleITK as sitk

    return img.GetPixelID() in (sitk.sitkUInt8, sitk.sitkInt8, sitk.sitkUInt16, sitk.sitkInt16,
                                sitk.sitkUInt32, sitk.sitkInt32, sitk.sitkUInt64, sitk.sitkInt64)


@catalogue_job("apply_transform", args={"images": "FILE+", "reference": "FILE",
                                        "transform": "FILE", "outdir": "PATHOUT",
                                        "interpolation": "OPTION(auto|linear|nearest|bspline)"},
               library="SimpleITK")
def apply_transform(images: list[str], reference: str, transform: str,
                    outdir: str = "reg/applied TAG(registered)", interpolation: str = "auto",
                    invert: bool = False) -> None:
    """Apply a stored transform to images and ROIs (nearest-neighbour for labels).

    Parameters
    ----------
    images
        Images or ROIs in the moving space; each is written into ``outdir`` under its
        own file name.
    reference
        The grid to resample onto (the fixed image of the registration).
    transform
        A transform written by ``register`` / ``register_template``.
    outdir
        The output folder.
    interpolation
        ``auto`` (nearest-neighbour for integer images: labels and ROIs; linear
        otherwise), ``linear``, ``nearest`` or ``bspline``.
    invert
        Apply the inverse (linear transforms only): fixed-space images onto ``reference``
        in the moving space.
    """
    import SimpleITK as sitk

    names = [Path(p).name for p in images]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise fail("apply_transform", f"several inputs are named {', '.join(dupes)}: make the "
                                      "images pattern match one file per name", arg="images")
    ref = read_sitk(reference, "reference")
    try:
        tx = sitk.ReadTransform(transform)
        if invert:
            tx = tx.GetInverse()
    except RuntimeError as exc:
        raise fail("apply_transform", "not a transform SimpleITK can read"
                   + (" and invert (deformable transforms have no stored inverse)" if invert else "")
                   + f": {str(exc).strip().splitlines()[-1]}", arg="transform", path=transform) from exc
    for path, name in zip(images, names, strict=True):
        img = read_sitk(path, "images", pixel=sitk.sitkUnknown)
        how = interpolation if interpolation != "auto" else ("nearest" if _is_label(img) else "linear")
        moved = sitk.Resample(img, ref, tx, getattr(sitk, _INTERP[how]), 0.0, img.GetPixelID())
        with output(Path(outdir) / name) as tmp:
            sitk.WriteImage(moved, str(tmp))

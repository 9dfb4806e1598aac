"""Templates the registration and brain-extraction jobs use: nilearn's bundled MNI152.

The MNI152 2009 template ships inside nilearn's wheel (T1, brain mask, GM and WM
probability maps); :func:`template_file` writes the one asked for, at the resolution
asked for, once into ``$NORA_HOME/cache/templates`` (atomically), and returns its path.
Nothing is downloaded.

>>> template_file("t1", 2)                  # doctest: +SKIP
PosixPath('/home/me/.nora_lab/cache/templates/mni152_t1_2mm.nii.gz')
"""

from __future__ import annotations

from pathlib import Path

from nora_lab.errors import ConfigError

__all__ = ["TEMPLATES", "KINDS", "template_file"]

#: template names the jobs accept
TEMPLATES = ("mni152",)
#: what each template provides -> nilearn's loader
KINDS = {"t1": "load_mni152_template", "mask": "load_mni152_brain_mask",
         "gm": "load_mni152_gm_template", "wm": "load_mni152_wm_template"}


def _cache() -> Path:
    from nora_lab import config

    return Path(config.nora_home()) / "cache" / "templates"


def template_file(kind: str, resolution: int = 2, template: str = "mni152") -> Path:
    """The path of a template image (written on first use).

    Parameters
    ----------
    kind
        ``"t1"``, ``"mask"`` (brain mask), ``"gm"`` or ``"wm"`` (probability maps).
    resolution
        Voxel size in whole mm (nilearn resamples its 1 mm template).
    template
        ``"mni152"``.

    Raises
    ------
    ConfigError
        For an unknown template or kind.
    """
    if template not in TEMPLATES or kind not in KINDS:
        raise ConfigError(f"template {template!r} {kind!r}: expected one of {', '.join(TEMPLATES)} "
                          f"and one of {', '.join(KINDS)}")
    res = int(resolution)
    if res != resolution or res <= 0:
        raise ConfigError(f"template resolution {resolution!r}: give a whole number of mm (1, 2, 3)")
    path = _cache() / f"{template}_{kind}_{res}mm.nii.gz"
    if path.is_file():
        return path
    import nibabel as nib
    from nilearn import datasets

    from nora_lab.batch.catalogue._job import output

    img = getattr(datasets, KINDS[kind])(resolution=res)
    if kind == "mask":
        img = nib.Nifti1Image(img.get_fdata().astype("uint8"), img.affine)
    else:
        img = nib.Nifti1Image(img.get_fdata(dtype="float32"), img.affine)
    with output(path) as tmp:
        nib.save(img, tmp)
    return path

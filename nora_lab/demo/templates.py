"""The anatomy the demo cohort is made from: templates that ship inside nilearn's wheel.

nilearn installs the ICBM 2009 symmetric MNI152 template at 1 mm (T1, grey- and
white-matter probability maps; ``nilearn/datasets/data/``) and the fsaverage5 surfaces
(GIFTI, ``nilearn/datasets/data/fsaverage5/``), so a fresh machine has real anatomy
without any download. :func:`load_templates` reads them through nilearn's own loaders
(which read those files, and never fetch for these) and crops the volumes to the
brain's bounding box plus a margin, at 1 mm.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from nora_lab.errors import DatasetError

__all__ = ["Templates", "load_templates", "MARGIN_MM"]

#: mm of background kept around the brain: room for each subject's pose and noise
MARGIN_MM = 12


@dataclass(frozen=True)
class Templates:
    """MNI152 2009 volumes cropped to the brain (float32, 1 mm) and the fsaverage5
    left pial surface.

    Attributes
    ----------
    t1 : ndarray
        The T1 template, 0–1.
    gm, wm : ndarray
        Grey- and white-matter probability maps, 0–1, on the grid of ``t1``.
    affine : ndarray
        Voxel → MNI (RAS) mm of the cropped grid.
    pial_vertices : ndarray
        (N, 3) float32 vertices of the left pial surface, MNI (RAS) mm.
    pial_faces : ndarray
        (M, 3) int32 triangles.
    """

    t1: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    affine: np.ndarray
    pial_vertices: np.ndarray
    pial_faces: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.t1.shape  # type: ignore[return-value]

    def world_box(self) -> tuple[np.ndarray, np.ndarray]:
        """The (lowest, highest) MNI corner of the cropped grid, mm."""
        corners = np.array([[0, 0, 0], np.subtract(self.shape, 1)], float)
        world = corners @ self.affine[:3, :3].T + self.affine[:3, 3]
        return world.min(axis=0), world.max(axis=0)


def _nilearn_datasets():
    try:
        from nilearn import datasets
    except ImportError as exc:  # pragma: no cover - nilearn is a dependency
        raise DatasetError(f"the demo cohort is made from nilearn's MNI152 templates, but "
                           f"nilearn cannot be imported ({exc}): pip install nilearn") from None
    return datasets


def _crop_box(mask: np.ndarray, margin: int) -> tuple[slice, ...]:
    """The brain's bounding box grown by ``margin`` voxels (clipped to the volume)."""
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(axis=0) - margin, 0)
    hi = np.minimum(idx.max(axis=0) + 1 + margin, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


@lru_cache(maxsize=1)
def load_templates(margin: int = MARGIN_MM) -> Templates:
    """The MNI152 T1, GM and WM maps cropped to the brain, and the fsaverage5 left pial.

    Raises
    ------
    DatasetError
        If the installed nilearn lacks the files (a broken install).
    """
    import nibabel as nib

    datasets = _nilearn_datasets()
    try:
        t1_img = datasets.load_mni152_template(resolution=1)
        gm_img = datasets.load_mni152_gm_template(resolution=1)
        wm_img = datasets.load_mni152_wm_template(resolution=1)
        pial = nib.load(datasets.fetch_surf_fsaverage("fsaverage5")["pial_left"])
    except (OSError, ValueError) as exc:
        raise DatasetError(f"nilearn's shipped MNI152 / fsaverage5 files cannot be read "
                           f"({exc}); reinstall nilearn: pip install --force-reinstall "
                           "nilearn") from None
    t1 = np.asarray(t1_img.get_fdata(dtype=np.float32))
    box = _crop_box(t1 > 0, margin)
    affine = t1_img.affine.copy()
    affine[:3, 3] += affine[:3, :3] @ [s.start for s in box]
    vertices = pial.agg_data("NIFTI_INTENT_POINTSET")
    faces = pial.agg_data("NIFTI_INTENT_TRIANGLE")
    return Templates(
        t1=np.ascontiguousarray(t1[box]),
        gm=np.ascontiguousarray(gm_img.get_fdata(dtype=np.float32)[box]),
        wm=np.ascontiguousarray(wm_img.get_fdata(dtype=np.float32)[box]),
        affine=affine,
        pial_vertices=np.asarray(vertices, np.float32),
        pial_faces=np.asarray(faces, np.int32))

"""What a lab derives from each T1, made from the templates: GM/WM ROIs and a surface.

The MNI152 grey- and white-matter probability maps are moved by the subject's pose
onto the grid of the *imported* T1 (the NIfTI dcm2niix wrote, read back from the
archive), then thresholded at p > 0.5: uint8 label images in the form the ROI tool saves
and loads (``rois/<name>.nii.gz``, tagged ``roi``; :meth:`nora_lab.imaging.ROI.to_nifti`).
The fsaverage5 left pial surface (MNI mm) is moved by the same pose and written as GIFTI
(``surf/lh.pial.gii``). Both line up with the T1 in world coordinates.
"""

from __future__ import annotations

import gzip
from typing import Any

import numpy as np

from nora_lab.archive import NewFile
from nora_lab.imaging import ROI

from .cohort import Subject
from .scan import resample
from .templates import Templates

__all__ = ["derived_files", "tissue_rois", "pial_surface", "ROI_FILES", "SURFACE_FILE",
           "THRESHOLD"]

#: ROI name → the template map it is thresholded from
ROI_FILES = {"gm": "rois/gm.nii.gz", "wm": "rois/wm.nii.gz"}
SURFACE_FILE = "surf/lh.pial.gii"
#: a voxel is in the ROI where the moved probability is above this
THRESHOLD = 0.5


def tissue_rois(subject: Subject, templates: Templates, t1: Any) -> dict[str, ROI]:
    """GM and WM ROIs on the grid of the imported T1 (a nibabel image)."""
    rois = {}
    for name, prob in (("gm", templates.gm), ("wm", templates.wm)):
        moved = resample(prob, templates.affine, t1.affine, t1.shape[:3], subject.pose())
        rois[name] = ROI(moved > THRESHOLD, t1.affine, name=name)
    return rois


def pial_surface(subject: Subject, templates: Templates) -> Any:
    """The fsaverage5 left pial surface in the subject's pose (a nibabel GiftiImage)."""
    from nibabel.gifti import GiftiDataArray, GiftiImage

    pose = subject.pose()
    verts = templates.pial_vertices @ pose[:3, :3].T.astype(np.float32) + pose[:3, 3]
    img = GiftiImage()
    img.add_gifti_data_array(GiftiDataArray(
        np.asarray(verts, np.float32), intent="NIFTI_INTENT_POINTSET", datatype="NIFTI_TYPE_FLOAT32",
        meta={"AnatomicalStructurePrimary": "CortexLeft", "GeometricType": "Anatomical",
              "Description": f"fsaverage5 pial (nilearn), moved into {subject.id}'s pose"}))
    img.add_gifti_data_array(GiftiDataArray(
        np.asarray(templates.pial_faces, np.int32), intent="NIFTI_INTENT_TRIANGLE",
        datatype="NIFTI_TYPE_INT32"))
    return img


def _nifti_gz(img: Any) -> bytes:
    """``.nii.gz`` bytes without a time stamp (the same ROI gives the same bytes)."""
    return gzip.compress(img.to_bytes(), compresslevel=6, mtime=0)


def derived_files(subject: Subject, templates: Templates, t1: Any) -> list[NewFile]:
    """The ROIs and the surface of one subject, ready for :meth:`Project.add_files`."""
    source = "MNI152 2009 (nilearn) {} probability > 0.5, moved by the subject's pose"
    files = [NewFile(ROI_FILES[name], data=_nifti_gz(roi.to_nifti()), tags=["roi", name],
                     meta={"source": source.format(name.upper()), "voxels": roi.count})
             for name, roi in tissue_rois(subject, templates, t1).items()]
    files.append(NewFile(SURFACE_FILE, data=pial_surface(subject, templates).to_bytes(),
                         tags=["surface"],
                         meta={"source": "fsaverage5 left pial (nilearn), moved by the "
                                         "subject's pose"}))
    return files

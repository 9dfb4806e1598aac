"""Comparisons shared by the DICOM import tests (imported as ``dicom_helpers``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np

from nora_lab.archive.dicom._convert import dcm2niix_path

NIBABEL_DATA = Path(nib.__file__).parent / "nicom" / "tests" / "data"


def plain_dcm2niix(src: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    """dcm2niix as a user would run it by hand (uncompressed, %s_%d names)."""
    out.mkdir(parents=True, exist_ok=True)
    return subprocess.run([dcm2niix_path(), "-z", "n", "-f", "%s_%d", *args, "-o", str(out),
                           str(src)], capture_output=True, text=True, check=True)


def assert_same_image(ours: Path, ref: Path) -> None:
    """Same voxels in the same world space: both as closest canonical, data equal
    (after scaling), affines within 1e-3 mm, same 4D order."""
    a = nib.as_closest_canonical(nib.load(ours))
    b = nib.as_closest_canonical(nib.load(ref))
    assert a.shape == b.shape, f"{ours.name}: shape {a.shape} != {b.shape} of {ref}"
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-3,
                               err_msg=f"{ours} vs {ref}: affine differs")
    da, db = np.asanyarray(a.dataobj), np.asanyarray(b.dataobj)
    assert np.array_equal(da, db), f"{ours} vs {ref}: voxel data differ"


def assert_same_text_numbers(ours: Path, ref: Path) -> None:
    """bval/bvec files: the same numbers in the same layout."""
    a = np.loadtxt(ours, ndmin=2)
    b = np.loadtxt(ref, ndmin=2)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, atol=1e-6)

"""The demo archive of ``make lab`` (``python -m nora_lab.demo [HOME]``): a small cohort
with real anatomy, imported through the real DICOM path, plus vendor DICOM.

>>> from nora_lab.demo import build_demo
>>> print(build_demo("/tmp/demo"))          # doctest: +SKIP

The project ``demo`` holds:

* six subjects ``demo01`` … ``demo06`` (study ``MR1``; tagged ``control`` or ``patient``),
  each a 1 mm T1 MPRAGE made from the MNI152 2009 template that ships inside nilearn —
  in its own head pose, with its own bias field, gain, offset and Rician noise — written
  as a DICOM series and imported with dcm2niix like any scan (file tag ``t1``);
* per subject, GM and WM ROIs (``rois/gm.nii.gz``, ``rois/wm.nii.gz``, tagged ``roi``;
  the MNI152 probability maps > 0.5 moved into the subject's pose) that the desk loads
  into the ROI tool, and the fsaverage5 left pial surface in the same pose
  (``surf/lh.pial.gii``, tagged ``surface``);
* the QC batch ``t1_qc`` run on every subject: ``demo06``'s noisy T1 fails it (a job in
  error, ``JOB:e``);
* four vendor series from nibabel's and pydicom's test data (a Philips enhanced MPRAGE,
  a Siemens mosaic DTI, a CT and an MR slice).

Everything is deterministic (seeded), so a build makes the same bytes every time, and a
re-run adds and rewrites nothing. Modules: ``templates`` (nilearn's shipped anatomy),
``cohort`` (the subjects), ``scan`` (pose, bias, noise on the scanner grid), ``series``
(DICOM writing), ``derived`` (ROIs, surface), ``qc`` (the batch), ``build``, ``cli``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nora_lab._lazy import lazy_names

__all__ = ["build_demo", "DemoReport", "main"]

_WHERE = {"build_demo": "build", "DemoReport": "build", "main": "cli"}

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.demo.build import DemoReport, build_demo
    from nora_lab.demo.cli import main


__getattr__, __dir__ = lazy_names(__name__, _WHERE, __all__)

"""The demo's quality-control batch: the T1's signal-to-noise ratio, one job per study.

A Python job of :mod:`nora_lab.batch` (launched for real, on a LocalCluster) measures
the SNR of each demo T1 — mean white-matter signal over the noise, the noise taken
from differences of neighbouring white-matter voxels (the smooth bias field cancels) —
writes ``qc/t1_snr.json`` (tagged ``qc``) and fails when the SNR is below ``$n1``.
``demo06``'s noisy scan fails it, so the archive holds a job in error (``JOB:e``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.archive import Project
    from nora_lab.batch import Batch, BatchRun

__all__ = ["qc_batch", "run_qc", "BATCH_NAME", "MIN_SNR"]

BATCH_NAME = "t1_qc"
MIN_SNR = 20

_SCRIPT = """\
import json
import nibabel as nib
import numpy as np

t1 = np.asanyarray(nib.load($f1).dataobj).astype(np.float32)
wm = np.asanyarray(nib.load($f2).dataobj) > 0
pairs = wm[1:] & wm[:-1]
noise = float((t1[1:] - t1[:-1])[pairs].std() / np.sqrt(2))
snr = float(t1[wm].mean()) / noise
json.dump({"snr": round(snr, 1), "noise": round(noise, 1), "min_snr": $n1}, open($o1, "w"))
print(f"SNR {snr:.1f} (white matter over the noise)")
assert snr >= $n1, f"SNR {snr:.1f} is below {$n1}: check the coil and repeat the scan"
"""


def qc_batch() -> Batch:
    """The batch: one Python job over the T1 and its white-matter ROI."""
    from nora_lab.batch import Batch, Job

    return Batch(BATCH_NAME, [Job.python(
        _SCRIPT, name="t1 snr", f1="*T1_MPRAGE*/s*.nii", f2="rois/wm*", n1=MIN_SNR,
        o1="qc/t1_snr.json TAG(qc)")])


def run_qc(project: Project, psids: list[str]) -> BatchRun:
    """Launch the QC batch on ``psids`` locally and wait for it (the batch is saved in
    the project too, for the batch tool)."""
    from nora_lab.batch import launch

    batch = qc_batch()
    batch.save(project)
    return launch(batch, project, psids, backend="local", wait=True, progress=False)

"""Studies and polling the batch tests share (``from batchstudies import make_studies``).

Not in ``conftest.py``: ``from conftest import …`` picks whichever ``conftest`` module
pytest imported first (``tests/archive/dicom`` has one too).
"""

from __future__ import annotations

import time


def wait_until(pred, timeout: float = 60.0, what: str = "condition") -> None:
    """Poll ``pred()`` until true; fail naming ``what`` after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def make_studies(project, n: int, *, failing: tuple[int, ...] = (), content: bytes = b"hello"):
    """Subjects P000.. with one study S1 each and a t1_trio/s001.nii file; returns PSIDs."""
    psids = []
    for i in range(n):
        sid = project.add_subject(f"P{i:03d}")
        psid = project.add_study(sid, "S1", date=f"2020-01-{i % 28 + 1:02d}", description="MR head")
        project.add_bytes(b"FAIL" if i in failing else content * (i + 1), psid,
                          "t1_trio/s001.nii", tags=["t1"])
        psids.append(psid)
    return psids

"""A kill -9 in the middle of an import leaves nothing half-written; a re-run completes it."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time

import nibabel as nib
import pytest

from nora_lab.archive.dicom import import_dicom
from nora_lab.archive.dicom._staging import STAGING_DIR
from nora_lab.archive.layout import TMP_PREFIX

SCRIPT = """
import sys
from nora_lab.archive import Archive
from nora_lab.archive.dicom import import_dicom
url, root, *sources = sys.argv[1:]
arc = Archive.open(url, root=root, user="alice")
import_dicom(arc.project("p"), sources, progress=False, workers=1)
print("FINISHED")
"""


def _sources(dicom_dir):
    return [dicom_dir / "dcm_qa_ge" / "In", dicom_dir / "dcm_qa_nih" / "In" / "20180918Si"]


def _archived_images(root):
    return [p for p in root.rglob("*.nii.gz") if STAGING_DIR not in p.parts]


def _wait_then_kill(proc, ready, timeout=120.0):
    t0 = time.monotonic()
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the import ended before the kill point: {proc.communicate()}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            pytest.fail("the kill point was never reached")
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.slow
@pytest.mark.parametrize("when", ["converting", "committing"])
def test_kill_and_rerun(archive, url, project, dicom_dir, when):
    root = project.root
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, url, str(archive.root),
                             *map(str, _sources(dicom_dir))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    staging = root / STAGING_DIR

    def converting():
        return staging.is_dir() and any(staging.glob("*/*/out"))

    def committing():
        return bool(_archived_images(root))

    _wait_then_kill(proc, converting if when == "converting" else committing)
    assert any(p.is_dir() for p in staging.iterdir()), "the killed import left no work folder"

    report = import_dicom(project, _sources(dicom_dir), progress=False)
    assert report.ok, str(report)
    assert len(report.series) == 5
    assert {s.status for s in report.series} <= {"converted", "already imported"}

    # nothing temporary anywhere, no work folder, every row has its file and vice versa
    assert not list(root.rglob(f"{TMP_PREFIX}*"))
    assert [p.name for p in staging.iterdir()] == ["commit.lock"]
    rows = set(project.files()["path"])
    on_disk = {str(p) for p in root.rglob("*") if p.is_file() and STAGING_DIR not in p.parts}
    assert rows == on_disk
    for path in _archived_images(root):
        with gzip.open(path) as fh:
            fh.read()  # CRC checked to the end
        assert nib.load(path).shape
    assert len(_archived_images(root)) == 5

    again = import_dicom(project, _sources(dicom_dir), progress=False)
    assert again.count("already imported") == 5


def test_leftovers_of_a_dead_import_are_swept(project, dicom_dir):
    """What a kill inside ``add_file`` or mid-conversion leaves is removed by the next run."""
    si = dicom_dir / "dcm_qa_nih" / "In" / "20180918Si"
    series_dir = project.root / "DEV" / "1" / "3_EPI_PE=AP"
    series_dir.mkdir(parents=True)
    half = series_dir / f"{TMP_PREFIX}0123abcd-s003.nii.gz"
    half.write_bytes(b"\x1f\x8b half a file")
    dead = project.root / STAGING_DIR / "deadbeef0000"
    (dead / "series00000" / "out").mkdir(parents=True)
    (project.root / STAGING_DIR / "deadbeef0000.lock").touch()  # nobody holds it
    report = import_dicom(project, si, progress=False)
    assert report.count("converted") == 4
    assert not half.exists() and not dead.exists()
    assert any("interrupted earlier import" in w for w in report.warnings)


def test_a_live_import_is_not_swept(project, dicom_dir):
    import fcntl

    live = project.root / STAGING_DIR / "cafe00000000"
    live.mkdir(parents=True)
    lock = project.root / STAGING_DIR / "cafe00000000.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        import_dicom(project, dicom_dir / "dcm_qa_ts" / "In" / "1.dcm", progress=False)
        assert live.is_dir() and lock.exists()
    finally:
        os.close(fd)

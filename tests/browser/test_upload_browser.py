"""Upload from the desk in real JupyterLab + headless Chromium: files dropped on the desk go
through the server extension's REST import (``POST nora/api/import``) with progress and the
import report, into the project or onto a subject's row.

One page, checks in order (they share it): a DICOM zip dropped on the desk's drop zone is
imported (a Siemens XA 4D run exported as five series comes back as one series) and the
table shows the new study; a NIfTI dropped onto that subject's row lands in its ``upload``
study; a BIDS zip is imported by the BIDS import; a zip that is not DICOM is refused with the
server's reason. The files are made here and handed to the page as a DataTransfer, the way
a drop from the file manager arrives.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile

import nbformat
import nibabel as nib
import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

pytestmark = pytest.mark.browser

NOTEBOOK = "upload_check.ipynb"
CODE = """\
from nora_lab.archive import Archive
from nora_lab.widgets import desktop

arc = Archive.open()
proj = arc.create_project("uploads", exist_ok=True)
desk = desktop(proj)
desk"""
READY = """() => { const u = document.querySelector('.nora-desk .nora-upload');
                   const t = document.querySelector('.nora-desk .nora-table');
                   return !!(u && t) && u.dataset.ready === '1' && t.dataset.total === '0'; }"""


def _xa_run_zip() -> bytes:
    """A Siemens XA classic 4D run: five series (5001…5005) of one 3-slice volume each."""
    study, buf = generate_uid(), io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for v in range(5):
            series = generate_uid()
            for z in range(3):
                meta = FileMetaDataset()
                meta.MediaStorageSOPClassUID = MRImageStorage
                meta.MediaStorageSOPInstanceUID = sop = generate_uid()
                meta.TransferSyntaxUID = ExplicitVRLittleEndian
                ds = Dataset()
                ds.file_meta = meta
                ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, sop
                ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
                ds.PatientID, ds.PatientName, ds.StudyDate = "UP01", "Up^Load", "20250101"
                ds.StudyTime, ds.SeriesTime = "100000", "101010.000000"
                ds.SeriesNumber, ds.InstanceNumber = 5001 + v, z + 1
                ds.Modality, ds.Manufacturer = "MR", "Siemens"
                ds.SoftwareVersions = "syngo MR XA30"
                ds.ProtocolName = ds.SeriesDescription = "fmri"
                ds.EchoTime, ds.RepetitionTime, ds.FlipAngle = 30, 2000, 90
                ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
                ds.ImagePositionPatient, ds.ImageOrientationPatient = [0, 0, 2.0 * z], \
                    [1, 0, 0, 0, 1, 0]
                ds.PixelSpacing, ds.SliceThickness, ds.Rows, ds.Columns = [2, 2], 2, 8, 8
                ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
                ds.PixelRepresentation, ds.SamplesPerPixel = 0, 1
                ds.PhotometricInterpretation = "MONOCHROME2"
                ds.PixelData = (np.arange(64, dtype=np.uint16) + 10 * v).tobytes()
                one = io.BytesIO()
                ds.save_as(one, enforce_file_format=True)
                zf.writestr(f"exam/v{v}_{z}.dcm", one.getvalue())
    return buf.getvalue()


def _nifti(shape=(6, 5, 4)) -> bytes:
    img = nib.Nifti1Image(np.arange(np.prod(shape), dtype=np.int16).reshape(shape), np.eye(4))
    return img.to_bytes()


def _bids_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ds/dataset_description.json",
                    json.dumps({"Name": "upload test", "BIDSVersion": "1.8.0"}))
        zf.writestr("ds/sub-bids01/ses-1/anat/sub-bids01_ses-1_T1w.nii", _nifti())
    return buf.getvalue()


def _drop(page, selector: str, name: str, data: bytes) -> None:
    """Drop one file on the element ``selector`` matches (dragover, then drop)."""
    dt = page.evaluate_handle(
        """([b64, name]) => { const bin = atob(b64); const u = new Uint8Array(bin.length);
             for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
             const dt = new DataTransfer(); dt.items.add(new File([u], name)); return dt; }""",
        [base64.b64encode(data).decode(), name])
    target = page.locator(selector).first
    target.dispatch_event("dragover", {"dataTransfer": dt})
    target.dispatch_event("drop", {"dataTransfer": dt})


def _job(page, n: int, timeout: float = 90_000) -> dict:
    """The n-th upload's line once its import has ended: state and text."""
    page.wait_for_function(
        """n => { const j = document.querySelectorAll('.nora-upload .nora-upload-job')[n];
                  return j && ['done', 'failed', 'refused'].includes(j.dataset.state); }""",
        arg=n, timeout=timeout)
    job = page.locator(".nora-upload .nora-upload-job").nth(n)
    return {"state": job.get_attribute("data-state"), "text": job.inner_text()}


@pytest.fixture(scope="module")
def page(lab):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CODE)], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, lab.server.root_dir / NOTEBOOK)
    page = lab.run_notebook(NOTEBOOK, READY, "upload")
    yield page
    lab.finish(page, "upload")


def test_a_dicom_zip_dropped_on_the_desk_is_imported_with_its_report(lab, page):
    _drop(page, ".nora-desk .nora-upload", "exam.zip", _xa_run_zip())
    job = _job(page, 0)
    assert job["state"] == "done", job
    assert "exam.zip → project uploads (dicom)" in job["text"]
    assert "1 series (1 converted)" in job["text"] and "converted\tUP01#" in job["text"]
    # the desk's table was refreshed from Python when the job ended
    page.wait_for_function("() => document.querySelector('.nora-desk .nora-table')"
                           ".dataset.total === '1'", timeout=30_000)
    assert page.locator(".nora-upload progress").first.evaluate("p => p.value") == 1
    lab.shot(page.locator(".nora-desk").first, "upload_desk.png")


def test_a_nifti_dropped_on_a_subjects_row_lands_in_its_upload_study(page):
    row = ".nora-desk .nora-table tr[data-psid^='UP01#']"
    page.wait_for_selector(row, timeout=30_000)
    _drop(page, row, "mask.nii", _nifti())
    job = _job(page, 1)
    assert job["state"] == "done", job
    assert "mask.nii → subject UP01 (nifti)" in job["text"]
    assert "mask.nii filed into UP01#upload" in job["text"]


def test_a_bids_zip_goes_through_the_bids_import(page):
    _drop(page, ".nora-desk .nora-upload", "dataset.zip", _bids_zip())
    job = _job(page, 2)
    assert job["state"] == "done", job
    assert "(bids)" in job["text"] and "BIDS import from" in job["text"]
    assert "bids01" in job["text"]


def test_a_zip_that_is_not_dicom_is_refused_with_the_servers_reason(page):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("notes.txt", "not an image")
    _drop(page, ".nora-desk .nora-upload", "notes.zip", buf.getvalue())
    job = _job(page, 3)
    assert job["state"] == "refused", job
    assert "HTTP 400" in job["text"] and "not DICOM" in job["text"]
    _drop(page, ".nora-desk .nora-upload", "loose.nii", _nifti())
    job = _job(page, 4)
    assert job["state"] == "refused" and "goes to a subject" in job["text"], job

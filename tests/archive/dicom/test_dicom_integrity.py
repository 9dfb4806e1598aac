"""The import under odd IDs and concurrency (both backends): patients whose IDs fold to
one folder name stay apart, simultaneous imports file each instance once, and an instance
arriving again with other pixels is a conflict, not "already imported"."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pydicom
import pytest
import sqlalchemy as sa
from pydicom.uid import generate_uid

from nora_lab.archive import _db
from nora_lab.archive import _schema as t
from nora_lab.archive.dicom import import_dicom
from nora_lab.archive.dicom._tables import dicom_instances
from nora_lab.archive.fsck import fsck


def _variant(src: Path, dest: Path, *, patient_id: str, name: str = "Gamma^Gus",
             uids: tuple[str, str, str] | None = None, flip_pixels: bool = False) -> Path:
    """A copy of a real slice as another patient (new study/series/instance UIDs)."""
    ds = pydicom.dcmread(src)
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8
    ds.PatientID, ds.PatientName = patient_id, name
    study, series, sop = uids or (generate_uid(), generate_uid(), generate_uid())
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, series, sop
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    if flip_pixels:
        px = bytearray(ds.PixelData)
        px[len(px) // 2: len(px) // 2 + 64] = bytes(64)
        ds.PixelData = bytes(px)
    dest.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(dest)
    return dest


@pytest.fixture
def slice_1(dicom_dir) -> Path:
    return dicom_dir / "dcm_qa_ts" / "In" / "1.dcm"


def test_three_patients_whose_ids_fold_alike_are_three_subjects(project, slice_1, tmp_path):
    for k, pid in enumerate(["12 34", "12#34", "12/34"]):
        _variant(slice_1, tmp_path / "in" / f"{k}.dcm", patient_id=pid, name=f"Person^{k}")
    report = import_dicom(project, tmp_path / "in", progress=False)
    assert report.count("converted") == 3, report
    subjects = sorted(project.studies()["psid"].str.split("#").str[0].unique())
    assert len(subjects) == 3 and all(s.startswith("12_34_") for s in subjects)
    assert sorted(project.identity(s)["name"] for s in subjects) == [
        "Person^0", "Person^1", "Person^2"]
    again = import_dicom(project, tmp_path / "in", progress=False)
    assert again.count("already imported") == 3 and not again.studies


def test_a_non_ascii_patient_id_is_kept_and_readable(project, slice_1, tmp_path):
    _variant(slice_1, tmp_path / "in" / "u.dcm", patient_id="Ünï 名前")
    report = import_dicom(project, tmp_path / "in", progress=False)
    assert report.count("converted") == 1, report
    (psid,) = report.studies
    assert psid.startswith("Ünï_名前_")
    with _db.read(project.archive.engine) as conn:
        assert conn.execute(sa.select(t.subjects.c.source_id)).scalars().all() == ["Ünï 名前"]


def _import(url: str, root: str, project: str, src: str, patients_id: str, q) -> None:
    from nora_lab.archive import Archive

    arc = Archive.open(url, root=root, user="alice")
    rep = import_dicom(arc.project(project), src, patients_id=patients_id, progress=False)
    q.put(sorted((s.status, s.psid) for s in rep.series))
    arc.close()


@pytest.mark.slow
def test_simultaneous_imports_file_each_instance_once(archive, url, dicom_dir):
    """Four imports of the 9 transfer-syntax series at once, each naming another subject:
    each instance is filed once, under one subject; the others say so."""
    archive.create_project("race")
    src = str(dicom_dir / "dcm_qa_ts" / "In")
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_import, args=(url, str(archive.root), "race", src, f"S{k}", q))
             for k in range(4)]
    for pr in procs:
        pr.start()
    results = [q.get(timeout=300) for _ in procs]
    for pr in procs:
        pr.join(60)
    assert [pr.exitcode for pr in procs] == [0] * 4
    statuses = [st for r in results for st, _ in r]
    assert statuses.count("converted") == 9, results
    assert set(statuses) <= {"converted", "imported by another import", "already imported"}
    proj = archive.project("race")
    nii = proj.files("*.nii")
    assert len(nii) == 9 and nii["path"].is_unique
    with _db.read(archive.engine) as conn:
        rows = conn.execute(sa.select(dicom_instances.c.sop_uid)).scalars().all()
    assert len(rows) == len(set(rows)) == 9
    studies = proj.studies()["psid"]
    assert all(len(proj.files(psid=p)) for p in studies), "a study without files was left"
    assert fsck(proj).ok


def test_the_same_instance_with_other_pixels_is_a_conflict(project, slice_1, tmp_path):
    uids = (generate_uid(), generate_uid(), generate_uid())
    first = _variant(slice_1, tmp_path / "a" / "x.dcm", patient_id="P1", uids=uids)
    report = import_dicom(project, first, progress=False)
    (nii,) = project.files("*.nii.gz")["path"]
    before = Path(nii).read_bytes()
    same = import_dicom(project, first, progress=False)
    assert same.count("already imported") == 1 and not same.warnings
    changed = _variant(slice_1, tmp_path / "b" / "x.dcm", patient_id="P1", uids=uids,
                       flip_pixels=True)
    again = import_dicom(project, changed, progress=False)
    assert again.count("conflict") == 1 and not again.ok, again
    assert any(w.startswith("CONFLICT:") for w in again.warnings)
    assert "other pixel data" in str(again) and str(changed) in str(again)
    assert Path(nii).read_bytes() == before, "the archived version is kept"
    assert report.ok

"""import_dicom into a real archive (SQLite and PostgreSQL): filing, content, idempotence."""

from __future__ import annotations

import json
import zipfile

import nibabel as nib
import pytest
from dicom_helpers import assert_same_image, assert_same_text_numbers, plain_dcm2niix

from nora_lab.archive.dicom import import_dicom, study_imported_hooks
from nora_lab.archive.dicom._staging import STAGING_DIR
from nora_lab.archive.layout import TMP_PREFIX
from nora_lab.errors import ConfigError, DicomImportError, PermissionDenied


def _nih_refs(dicom_dir):
    refs = {}
    for j in (dicom_dir / "dcm_qa_nih" / "Ref").glob("*.json"):
        meta = json.loads(j.read_text())
        refs[(meta["Manufacturer"].split()[0].upper(),
              meta["SeriesNumber"])] = j.with_suffix(".nii")
    return refs


def _leftovers(project):
    """Temporary or work files anywhere under the project's folder."""
    root = project.root
    tmp = [p for p in root.rglob(f"{TMP_PREFIX}*")]
    work = [p for p in (root / STAGING_DIR).iterdir() if p.name != "commit.lock"] \
        if (root / STAGING_DIR).exists() else []
    return tmp + work


def test_nih_every_series_filed_by_policy_and_equal_to_ref(project, dicom_dir):
    report = import_dicom(project, dicom_dir / "dcm_qa_nih" / "In", progress=False)
    assert report.ok, str(report)
    assert report.count("converted") == 8
    assert sorted(report.studies) == ["DEV#1", "DEV#27018"]
    assert len(report.skipped) == 10 and all(k.path.endswith(".txt") for k in report.skipped)
    folders = {(s.psid, s.series_folder) for s in report.series}
    assert ("DEV#27018", "4_Axial_EPI-FMRI_Interleaved_I_to_S") in folders
    assert ("DEV#1", "3_EPI_PE=AP") in folders

    refs = _nih_refs(dicom_dir)
    files = project.files(pattern="*/s0*.nii.gz", meta_keys=["Manufacturer", "SeriesNumber"])
    assert len(files) == 8
    for row in files.itertuples():
        key = (row.Manufacturer.split()[0].upper(), row.SeriesNumber)
        assert_same_image(row.path, refs[key])

    sidecar = json.loads((project.study_dir("DEV#27018") / "4_Axial_EPI-FMRI_Interleaved_I_to_S"
                          / "s004.json").read_text())
    assert sidecar["SeriesInstanceUID"] and sidecar["StudyInstanceUID"]
    nora = sidecar["NoraArchive"]
    assert (nora["psid"], nora["series_folder"], nora["instances"]) == (
        "DEV#27018", "4_Axial_EPI-FMRI_Interleaved_I_to_S", 150)
    assert "-p y" in nora["converter_flags"]
    study = project.study("DEV#27018")
    assert study["date"] == "2018-09-18"
    assert study["meta"]["StudyInstanceUID"] == sidecar["StudyInstanceUID"]
    df = report.to_frame()
    assert set(df["kind"]) == {"series", "skipped"}
    assert "8 converted" in str(report)
    assert not _leftovers(project)

    # importing the same DICOMs again adds nothing
    before = {p: p.stat().st_mtime_ns for p in project.root.rglob("*.nii.gz")}
    n_files = len(project.files())
    again = import_dicom(project, dicom_dir / "dcm_qa_nih" / "In", progress=False)
    assert again.count("already imported") == 8 and not again.studies
    assert len(project.files()) == n_files
    assert {p: p.stat().st_mtime_ns for p in project.root.rglob("*.nii.gz")} == before


@pytest.mark.slow
def test_large_series_equal_plain_dcm2niix(project, dicom_dir, tmp_path):
    sources = [dicom_dir / "dcm_qa_ge" / "In", dicom_dir / "example-dicom-structural" / "dicoms"]
    report = import_dicom(project, sources, progress=False)
    assert report.count("converted") == 2, str(report)
    for src in sources:
        plain = tmp_path / src.parent.name
        plain_dcm2niix(src, plain)
        (ref,) = plain.glob("*.nii")
        number = int(ref.name.split("_")[0])
        (ours,) = project.files(pattern=f"{number}_*/s*.nii.gz")["path"]
        assert_same_image(ours, ref)
        assert nib.load(ours).get_filename().endswith(".nii.gz")


def test_zip_of_every_transfer_syntax(project, dicom_dir, tmp_path):
    z = tmp_path / "upload.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in (dicom_dir / "dcm_qa_ts" / "In").glob("*.dcm"):
            zf.write(f, f"upload/{f.name}")
    report = import_dicom(project, z, progress=False)
    assert report.count("converted") == 9, str(report)
    assert report.studies == ["crlab#1"]
    for n in range(1, 10):
        (path,) = project.files(pattern=f"{n}_ax_asc_35sl/s00{n}.nii.gz")["path"]
        assert_same_image(path, dicom_dir / "dcm_qa_ts" / "Ref" / f"{n}.nii")
    assert not _leftovers(project)


def test_dwi_bval_bvec_enter_the_archive(project, dwi_dir, tmp_path):
    report = import_dicom(project, dwi_dir, progress=False)
    (series,) = report.series
    assert series.status == "converted"
    assert sorted(f.rsplit(".", 1)[-1] for f in series.files).count("bval") == 2
    plain = tmp_path / "plain"
    plain_dcm2niix(dwi_dir, plain)
    refs = {nib.load(p).shape: p for p in plain.glob("*.nii")}
    for path in project.files(pattern="*.nii.gz")["path"]:
        ref = refs[nib.load(path).shape]
        assert_same_image(path, ref)
        stem = str(path)[: -len(".nii.gz")]
        assert_same_text_numbers(stem + ".bval", ref.with_suffix(".bval"))
        assert_same_text_numbers(stem + ".bvec", ref.with_suffix(".bvec"))


def test_overrides_and_pattern(project, dicom_dir):
    si = dicom_dir / "dcm_qa_nih" / "In" / "20180918Si"
    report = import_dicom(project, si, patients_id="P001", studies_id="S1", progress=False)
    assert report.studies == ["P001#S1"] and report.count("converted") == 4
    other = project.archive.create_project("q")
    rep = import_dicom(other, si, pattern=r"(?<patients_id>\d+)Si/mr_(?<studies_id>\d+)$",
                       progress=False)
    assert sorted(rep.studies) == ["20180918#0003", "20180918#0004", "20180918#0005",
                                   "20180918#0006"]
    with pytest.raises(ConfigError):
        import_dicom(other, si, pattern=r"(\d+)", progress=False)


def test_extra_files_and_kept_originals(project, dicom_dir):
    import tarfile

    si = dicom_dir / "dcm_qa_nih" / "In" / "20180918Si"
    report = import_dicom(project, si, extrafiles_filter="txt", keep_dicom=True,
                          progress=False)
    assert report.ok and not report.skipped
    assert sorted(report.extras) == sorted(
        ["DEV#1/README-Study.txt"]
        + [f"DEV#1/{f}/README-Series.txt" for f in
           ("3_EPI_PE=AP", "4_EPI_PE=PA", "5_EPI_PE=RL", "6_EPI_PE=LR")])
    tar = project.study_dir("DEV#1") / "3_EPI_PE=AP" / "dicom.tar.gz"
    with tarfile.open(tar) as tf:
        names = tf.getnames()
    assert len(names) == 2 and all(n.endswith(".dcm") for n in names)
    assert [str(tar)] == list(project.files(pattern="3_*/dicom*")["path"])


def test_pseudonymized_project_keeps_nothing_real(pseudo_project, dicom_dir):
    proj = pseudo_project
    si = dicom_dir / "dcm_qa_nih" / "In" / "20180918Si"
    report = import_dicom(proj, si, progress=False)
    assert report.count("converted") == 4
    (psid,) = report.studies
    subject = psid.split("#")[0]
    assert subject != "DEV" and "Regression" not in psid
    assert proj.identity(subject)["id"] == "DEV"
    assert proj.identity(subject)["name"] == "Test^Regression"
    real = ("DEV", "Test", "Regression")
    for path in proj.root.rglob("*"):
        rel = str(path.relative_to(proj.root))
        assert not any(r.lower() in rel.lower() for r in real), rel
        if path.name.endswith(".json"):
            text = path.read_text()
            assert "PatientName" not in text and "PatientID" not in text
            assert not any(r in text for r in ("Test^Regression", "\"DEV\"")), path
            assert "StudyInstanceUID" in text
        if path.name.endswith(".nii.gz"):
            h = nib.load(path).header
            for key in ("descrip", "aux_file", "db_name", "intent_name"):
                value = bytes(h[key]).decode(errors="replace")
                assert not any(r.lower() in value.lower() for r in real), (key, value)
    again = import_dicom(proj, si, progress=False)
    assert again.count("already imported") == 4
    assert proj.subjects()["subject"].tolist() == [subject]


def test_bad_input_is_reported_and_the_rest_imported(project, dicom_dir, tmp_path):
    import pydicom

    src = tmp_path / "in"
    src.mkdir()
    ge = sorted((dicom_dir / "dcm_qa_ge" / "In").glob("*/*"),
                key=lambda p: pydicom.dcmread(p, stop_before_pixels=True).InstanceNumber)
    for n, f in enumerate(ge):
        (src / f"{n:03d}.dcm").symlink_to(f)
    victim = src / "060.dcm"
    data = victim.read_bytes()
    victim.unlink()
    victim.write_bytes(data[: len(data) // 2])  # truncated mid-pixels
    ds = pydicom.dcmread(ge[0])
    del ds.PixelData
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(src / "nopixels.dcm")
    (src / "notes.csv").write_text("a,b\n1,2\n")
    (src / "garbage.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 500)

    report = import_dicom(project, src, progress=False)
    (series,) = report.series
    assert series.status in ("converted", "partial"), str(report)
    assert any(n.startswith("missing slices") for n in series.notes), series.notes
    reasons = {k.path.rsplit("/", 1)[-1]: k.reason for k in report.skipped}
    assert reasons["060.dcm"].startswith("truncated")
    assert reasons["nopixels.dcm"].startswith("no pixel data")
    assert reasons["notes.csv"].startswith("not a DICOM")
    assert "garbage.dcm" in reasons
    assert str(victim) in str(report)
    (path, *_) = project.files(pattern="5_*/s005*.nii.gz")["path"]
    assert nib.load(path).shape[:2] == (256, 256)


def test_hooks_run_once_per_new_study(project, dicom_dir):
    seen = []

    def hook(proj, psid):
        seen.append((proj.name, psid))

    def broken(proj, psid):
        raise RuntimeError("boom")

    study_imported_hooks.extend([hook, broken])
    try:
        si = dicom_dir / "dcm_qa_nih" / "In" / "20180918Si"
        report = import_dicom(project, si, progress=False)
        assert seen == [("p", "DEV#1")]
        assert any("boom" in w for w in report.warnings)
        import_dicom(project, si, progress=False)
        assert seen == [("p", "DEV#1")]
    finally:
        study_imported_hooks.remove(hook)
        study_imported_hooks.remove(broken)


def test_list_of_files_from_a_node(project, dicom_dir):
    files = sorted((dicom_dir / "dcm_qa_nih" / "In" / "20180918Si").glob("*/*.dcm"))
    first = import_dicom(project, files[:5], progress=False)
    assert first.count("converted") == 3  # 3_AP, 4_PA complete, 5_RL has 1 of 2
    rest = import_dicom(project, files[5:], progress=False)
    # 5_RL's first instance came earlier: the series is completed from its source path
    statuses = sorted((s.series_folder, s.status) for s in rest.series)
    assert statuses == [("5_EPI_PE=RL", "converted"), ("6_EPI_PE=LR", "converted")]
    (path,) = project.files(pattern="5_*/s005.nii.gz")["path"]
    assert nib.load(path).shape[-1] == 2


def test_reader_may_not_import(archive, project, dicom_dir):
    archive.add_user("bob")
    archive.grant("p", "bob", "reader")
    as_bob = archive.as_user("bob").project("p")
    with pytest.raises(PermissionDenied):
        import_dicom(as_bob, dicom_dir / "dcm_qa_ts" / "In", progress=False)


def test_missing_source(project, tmp_path):
    with pytest.raises(DicomImportError, match="does not exist"):
        import_dicom(project, tmp_path / "nothing-here", progress=False)


def test_folders_convert_during_the_scan(project, dicom_dir):
    report = import_dicom(project, dicom_dir / "dcm_qa_nih" / "In" / "20180918GE",
                          progress=False)
    assert report.count("converted") == 4
    assert report.timings.get("speculated (series)") == 4


def test_a_mixed_folder_is_never_converted_whole(project, dicom_dir, tmp_path):
    """First and last file of one series, another series in between: the speculative
    whole-folder result must be dropped and each series converted on its own."""
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    si = dicom_dir / "dcm_qa_nih" / "In" / "20180918Si"
    ap = sorted((si / "mr_0003").glob("*.dcm"))
    pa = sorted((si / "mr_0004").glob("*.dcm"))
    (mixed / "a1.dcm").symlink_to(ap[0])
    (mixed / "b1.dcm").symlink_to(pa[0])
    (mixed / "b2.dcm").symlink_to(pa[1])
    (mixed / "z1.dcm").symlink_to(ap[1])
    report = import_dicom(project, mixed, progress=False)
    assert report.count("converted") == 2
    assert not report.timings.get("speculated (series)")
    for folder, ref in (("3_EPI_PE=AP", "EPI_PE=AP_3.nii"), ("4_EPI_PE=PA", "EPI_PE=PA_4.nii")):
        (path,) = project.files(pattern=f"{folder}/*.nii.gz")["path"]
        assert_same_image(path, dicom_dir / "dcm_qa_nih" / "Ref" / ref)


def test_two_studies_overridden_into_one_keep_their_series_apart(project, dicom_dir, tmp_path):
    """The same series names in two source studies filed under one PSID: _2 folders."""
    import pydicom

    src = tmp_path / "two"
    for n in range(2):
        study_uid, series_uid = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
        for f in sorted((dicom_dir / "dcm_qa_nih" / "In" / "20180918Si" / "mr_0003").glob("*.dcm")):
            ds = pydicom.dcmread(f)
            ds.StudyInstanceUID = study_uid
            ds.SeriesInstanceUID = series_uid
            ds.SOPInstanceUID = pydicom.uid.generate_uid()
            (src / str(n)).mkdir(parents=True, exist_ok=True)
            ds.save_as(src / str(n) / f.name)
    report = import_dicom(project, src, patients_id="P1", studies_id="S1", progress=False)
    assert report.count("converted") == 2, str(report)
    assert sorted(s.series_folder for s in report.series) == ["3_EPI_PE=AP", "3_EPI_PE=AP_2"]


def test_a_project_without_a_role_may_not_import(tmp_path):
    """The rights check fails closed: an object that says nothing of its role (a stand-in
    project, a wrapper that lost the attribute) is refused, and nothing is written."""

    class NoRole:
        name = "p"
        root = tmp_path / "p"

    with pytest.raises(PermissionDenied, match="needs the editor role"):
        import_dicom(NoRole(), tmp_path)
    assert not (tmp_path / "p").exists()

"""BIDS out and in: names from dcm2niix sidecars, the official validator run for real on
the export (the demo cohort, a pseudonymized project), pybids import, bad datasets."""

from __future__ import annotations

import json
import shutil

import nibabel as nib
import numpy as np
import pytest

from nora_lab.archive import Archive
from nora_lab.archive.bids import bids_name, export_bids, import_bids, validate_bids
from nora_lab.archive.bids import export as bids_export
from nora_lab.cli import main as nora
from nora_lab.errors import AlreadyExistsError, ConfigError, ForeignDataError
from nora_lab.testing import testdata

SI_EPI = testdata.dicom_root() / "dcm_qa_nih" / "In" / "20180918Si"


# --- names ------------------------------------------------------------------------------
@pytest.mark.parametrize("meta, bvec, expected", [
    ({"SeriesDescription": "T1 MPRAGE", "Modality": "MR"}, False, "anat/T1w"),
    ({"SeriesDescription": "t2_tse_tra"}, False, "anat/T2w"),
    ({"ProtocolName": "3D FLAIR"}, False, "anat/FLAIR"),
    ({"SeriesDescription": "fMRI task-nback"}, False, "func/task-nback_bold"),
    ({"SeriesDescription": "resting_state_bold"}, False, "func/task-rest_bold"),
    ({"SeriesDescription": "CBU_DTI_64D_1A"}, True, "dwi/dwi"),
    ({"SeriesDescription": "gre_field_mapping", "ImageType": ["ORIGINAL", "PRIMARY", "P"]},
     False, "fmap/phasediff"),
    ({"SeriesDescription": "gre_field_mapping", "EchoNumber": 2}, False, "fmap/magnitude2"),
])
def test_series_names_come_from_the_sidecar(meta, bvec, expected):
    assert bids_name(meta, has_bvec=bvec).path_part == expected


def test_what_has_no_name_says_why_and_a_mapping_overrides():
    assert "modality CT" in bids_name({"Modality": "CT", "SeriesDescription": "head"})
    assert "without .bval/.bvec" in bids_name({"SeriesDescription": "DTI 30dir"})
    assert "mapping={'localizer': 'anat/T1w'}" in bids_name({"SeriesDescription": "localizer"})
    assert bids_name({"SeriesDescription": "T1 MPRAGE"}, mapping={"*mprage*": None}) == \
        "left out by the mapping '*mprage*'"
    mapped = bids_name({"SeriesDescription": "EPI PE=AP"},
                       mapping={"epi*": "func/task-motor_acq-ap_bold"})
    assert (mapped.datatype, mapped.suffix, dict(mapped.entities)) == \
        ("func", "bold", {"task": "motor", "acq": "ap"})
    with pytest.raises(ConfigError, match="datatype of anat, func"):
        bids_name({"SeriesDescription": "x"}, mapping={"x": "beh/T1w"})


# --- the demo cohort, validated for real --------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from nora_lab.demo import build_demo

    home = tmp_path_factory.mktemp("demo")
    build_demo(home, subjects=2)
    arc = Archive.open(home)
    yield arc.project("demo")
    arc.close()


def test_the_demo_cohort_exports_as_valid_bids(demo, tmp_path):
    out = export_bids(demo, tmp_path / "bids")
    t = out.table.set_index(["psid", "relpath"])
    assert t.loc[("demo01#MR1", "2_T1_MPRAGE/s002.nii.gz"), "bids_path"] == \
        "sub-demo01/ses-MR1/anat/sub-demo01_ses-MR1_T1w.nii.gz"
    assert t.loc[("1234#1", "12_CBU_DTI_64D_1A/s012a.nii.gz"), "bids_path"] == \
        "sub-1234/ses-1/dwi/sub-1234_ses-1_run-2_dwi.nii.gz"
    assert t.loc[("demo01#MR1", "rois/gm.nii.gz"), "reason"] == \
        "no dcm2niix sidecar: not an imported series"
    assert "modality CT" in t.loc[("1CT1#1CT1", "1_CT/s001.nii.gz"), "reason"]
    dwi = out.path / "sub-1234" / "ses-1" / "dwi" / "sub-1234_ses-1_run-2_dwi"
    assert dwi.with_suffix(".bval").exists() and dwi.with_suffix(".bvec").exists()
    assert (out.path / "participants.tsv").read_text().splitlines()[1:] == [
        "sub-1234\tn/a", "sub-R322EnhancedDicomPhantom7534ecc5\tn/a",
        "sub-demo01\tcontrol", "sub-demo02\tpatient"]
    report = validate_bids(out.path)
    assert report.ok, str(report)

    only = export_bids(demo, tmp_path / "controls", filters={"subject": "STAG:control"})
    assert sorted(p.name for p in only.path.glob("sub-*")) == ["sub-demo01"]
    assert validate_bids(only.path).ok


def test_the_validator_finds_what_is_wrong(demo, tmp_path):
    out = export_bids(demo, tmp_path / "bids", filters={"subject": "demo01"})
    (out.path / "dataset_description.json").unlink()
    assert "MISSING_DATASET_DESCRIPTION" in {e["code"] for e in validate_bids(out.path).errors}


def test_an_export_is_never_half_written_and_needs_overwrite(demo, tmp_path, monkeypatch):
    dest = tmp_path / "bids"
    calls = []

    def fail_on_second(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(*args, **kw)

    real = bids_export._write_series
    monkeypatch.setattr(bids_export, "_write_series", fail_on_second)
    with pytest.raises(OSError, match="No space left"):
        export_bids(demo, dest)
    assert list(tmp_path.iterdir()) == []  # no dest, no temporary folder
    monkeypatch.undo()
    export_bids(demo, dest, filters={"subject": "demo01"})
    with pytest.raises(AlreadyExistsError, match="overwrite=True"):
        export_bids(demo, dest)
    export_bids(demo, dest, overwrite=True)
    assert (dest / "sub-demo02").exists() and [p.name for p in tmp_path.iterdir()] == ["bids"]


# --- pseudonyms -----------------------------------------------------------------------
def test_a_pseudonymized_project_exports_pseudonyms_and_no_identity(archive, tmp_path):
    proj = archive.create_project("pseudo", naming="pseudonym")
    proj.import_dicom(SI_EPI, progress=False)
    (pseudonym,) = proj.subjects().subject
    out = export_bids(proj, tmp_path / "bids", mapping={"epi*": "func/task-rest_bold"})
    assert [p.name for p in out.path.glob("sub-*")] == [f"sub-{pseudonym}"]
    sidecar = json.loads(next(out.path.rglob("*run-1_bold.json")).read_text())
    assert sidecar["TaskName"] == "rest"
    assert not {"PatientID", "PatientName", "SeriesInstanceUID", "AcquisitionDateTime"} \
        & set(sidecar)
    assert validate_bids(out.path).ok


# --- import -----------------------------------------------------------------------------
def _dataset(root):
    """A small BIDS dataset: two subjects, T1w + a 4D bold with inherited metadata."""
    root.mkdir()
    (root / "dataset_description.json").write_text(json.dumps(
        {"Name": "mini", "BIDSVersion": "1.10.0"}))
    (root / "participants.tsv").write_text("participant_id\tage\nsub-01\t31\nsub-02\tn/a\n")
    (root / "task-rest_bold.json").write_text(json.dumps(
        {"TaskName": "rest", "RepetitionTime": 2.0}))
    for sub in ("01", "02"):
        anat, func = root / f"sub-{sub}" / "anat", root / f"sub-{sub}" / "func"
        anat.mkdir(parents=True)
        func.mkdir()
        nib.save(nib.Nifti1Image(np.ones((4, 4, 4), np.int16), np.eye(4)),
                 anat / f"sub-{sub}_T1w.nii.gz")
        nib.save(nib.Nifti1Image(np.ones((4, 4, 4, 3), np.int16), np.eye(4)),
                 func / f"sub-{sub}_task-rest_bold.nii.gz")
    return root


def test_import_makes_subjects_studies_and_tagged_files(archive, tmp_path):
    proj = archive.create_project("bids_in")
    report = import_bids(proj, _dataset(tmp_path / "ds"))
    assert str(report) == f"BIDS import from {tmp_path / 'ds'}: 8 files in 2 studies"
    assert proj.studies().psid.tolist() == ["01#1", "02#1"]
    assert proj.subjects().set_index("subject").n_studies.to_dict() == {"01": 1, "02": 1}
    files = proj.files(psid="01#1", meta_keys=["RepetitionTime", "TaskName"])
    got = {r.relpath: (r.tags, r.TaskName) for r in files.itertuples()}
    assert got["func/sub-01_task-rest_bold.nii.gz"] == (["bold", "func"], "rest")  # inherited
    assert got["anat/sub-01_T1w.nii.gz"][0] == ["T1w", "anat"]
    assert "func/sub-01_task-rest_bold.json" in got  # the merged sidecar, beside the image
    assert len(proj.files(tags=["T1w"])) == 2

    import_bids(proj, tmp_path / "ds")  # a re-run adds nothing
    assert len(proj.files()) == 8


def test_export_then_import_round_trips(demo, archive, tmp_path):
    out = export_bids(demo, tmp_path / "bids", filters={"subject": "demo0*"})
    proj = archive.create_project("copy")
    import_bids(proj, out.path)
    assert proj.studies().psid.tolist() == ["demo01#MR1", "demo02#MR1"]
    assert proj.subjects().set_index("subject").tags.to_dict() == {
        "demo01": ["control"], "demo02": ["patient"]}
    (ours,) = proj.resolve("demo01#MR1", "anat/*T1w.nii.gz")
    (theirs,) = demo.resolve("demo01#MR1", "2_T1*/*.nii.gz")
    assert ours.read_bytes() == theirs.read_bytes()
    again = export_bids(proj, tmp_path / "again")
    assert validate_bids(again.path).ok


def test_a_dataset_with_a_file_that_is_not_bids_is_refused_whole(archive, tmp_path):
    ds = _dataset(tmp_path / "ds")
    stray = ds / "sub-02" / "anat" / "scan_final_v2.nii.gz"
    shutil.copy(ds / "sub-02" / "anat" / "sub-02_T1w.nii.gz", stray)
    proj = archive.create_project("bids_in")
    with pytest.raises(ForeignDataError, match=f"{stray}: not a BIDS file name"):
        import_bids(proj, ds)
    assert proj.subjects().empty and proj.files().empty

    (ds / ".bidsignore").write_text("**/scan_final_*\n")  # what the validator ignores too
    import_bids(proj, ds)
    assert "anat/scan_final_v2.nii.gz" not in proj.files().relpath.tolist()
    assert len(proj.files()) == 8
    stray.unlink()
    broken = ds / "sub-02" / "anat" / "sub-02_T2w.nii.gz"
    broken.write_bytes(b"not an image")
    with pytest.raises(ForeignDataError, match=f"{broken}: not a NIfTI image"):
        import_bids(proj, ds)
    assert len(proj.files()) == 8  # nothing more, nothing lost
    broken.unlink()
    import_bids(proj, ds)
    assert len(proj.files()) == 8
    with pytest.raises(ForeignDataError, match="dataset_description.json is missing"):
        import_bids(proj, tmp_path)


def test_the_nora_command_exports_and_imports_bids(demo, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NORA_HOME", str(tmp_path / "home"))
    export_bids(demo, tmp_path / "bids", filters={"subject": "demo01"})
    assert nora(["-c", "lab"]) == 0
    assert nora(["-p", "lab", "--bids_import", str(tmp_path / "bids")]) == 0
    assert "2 files in 1 studies" in capsys.readouterr().out
    assert nora(["-p", "lab", "--bids_export", str(tmp_path / "out")]) == 0
    assert "1 series exported" in capsys.readouterr().out
    assert nora(["-p", "lab", "--bids_export", str(tmp_path / "out")]) == 1
    assert "--force" in capsys.readouterr().err

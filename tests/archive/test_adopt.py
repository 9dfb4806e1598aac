"""Adopting an existing folder tree as a project: patterns, dry run, copy/link/in place,
idempotent re-runs, unreadable files — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os

import nibabel as nib
import numpy as np
import pytest

from nora_lab.archive.adopt import adopt, compile_pattern
from nora_lab.cli import main as nora
from nora_lab.errors import ConfigError, ForeignDataError


def _nifti(path, value=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.full((3, 3, 3), value, np.int16), np.eye(4)), path)


@pytest.fixture
def tree(tmp_path):
    """A lab's folder: <subject>/<session>/<series>/files, plus things to skip."""
    root = tmp_path / "old"
    _nifti(root / "P01" / "base" / "t1" / "t1.nii.gz", 1)
    (root / "P01" / "base" / "t1" / "t1.json").write_text(json.dumps({"EchoTime": 0.003}))
    _nifti(root / "P01" / "follow" / "flair" / "flair.nii.gz", 2)
    _nifti(root / "P02" / "base" / "t1" / "t1.nii.gz", 3)
    (root / "P02" / "base" / "t1" / "notes" / "qc.txt").parent.mkdir()
    (root / "P02" / "base" / "t1" / "notes" / "qc.txt").write_text("ok")
    (root / "README.txt").write_text("top-level, no subject")
    (root / "P02" / ".DS_Store").write_text("x")
    return root


def test_dry_run_says_what_would_be_registered_and_why_not(archive, tree):
    proj = archive.create_project("lab")
    plan = adopt(proj, tree, "{subject}/{study}/{series}", dry_run=True)
    todo = plan[plan.action == "register"]
    assert sorted(zip(todo.psid, todo.relpath, strict=True)) == [
        ("P01#base", "t1/t1.json"), ("P01#base", "t1/t1.nii.gz"),
        ("P01#follow", "flair/flair.nii.gz"),
        ("P02#base", "t1/notes/qc.txt"), ("P02#base", "t1/t1.nii.gz")]
    skipped = dict(zip(plan[plan.action == "skip"].path.map(os.path.basename),
                       plan[plan.action == "skip"].reason, strict=True))
    assert skipped == {"README.txt": "its folder '.' does not match the pattern",
                       ".DS_Store": "hidden file or folder"}
    assert proj.studies().empty and not any(proj.root.iterdir())  # nothing written


def test_copy_registers_files_with_sidecars_and_reruns_change_nothing(archive, tree):
    proj = archive.create_project("lab")
    adopt(proj, tree, "{subject}/{study}/{series}", tags=["adopted"])
    files = proj.files(meta_keys=["EchoTime"])
    assert len(files) == 5 and set(files.psid) == {"P01#base", "P01#follow", "P02#base"}
    t1 = files[files.relpath == "t1/t1.nii.gz"].iloc[0]
    assert t1.EchoTime == 0.003 and t1.tags == ["adopted"] and t1.filetype == "nifti"
    assert (tree / "P01" / "base" / "t1" / "t1.nii.gz").exists()  # copied, not moved

    again = adopt(proj, tree, "{subject}/{study}/{series}")
    assert set(again.action) == {"already registered", "skip"}
    assert len(proj.files()) == 5


def test_templates_without_study_or_series_and_with_wildcards(archive, tmp_path):
    proj = archive.create_project("lab")
    _nifti(tmp_path / "src" / "site-A" / "sub_7" / "scan.nii.gz")
    plan = adopt(proj, tmp_path / "src", "site-*/sub_{subject}", study="baseline",
                 dry_run=True)
    assert plan[["psid", "relpath", "action"]].values.tolist() == [
        ["7#baseline", "scan.nii.gz", "register"]]


def test_nora_regex_patterns_name_patients_id_and_studies_id(archive, tmp_path):
    proj = archive.create_project("lab")
    _nifti(tmp_path / "src" / "2020-01" / "X12" / "a.nii.gz")
    plan = adopt(proj, tmp_path / "src", r"(?<studies_id>[\w\-]+)/(?<patients_id>\w+)$",
                 dry_run=True)
    assert plan[["subject", "study", "relpath"]].values.tolist() == [["X12", "2020-01",
                                                                      "a.nii.gz"]]


def test_bad_patterns_and_modes_are_refused(archive, tree):
    proj = archive.create_project("lab")
    with pytest.raises(ConfigError, match="unknown field {patient}"):
        compile_pattern("{patient}/{study}")
    with pytest.raises(ConfigError, match="names no subject"):
        compile_pattern("{study}/{series}")
    with pytest.raises(ConfigError, match="mode 'move'"):
        adopt(proj, tree, mode="move")
    with pytest.raises(ConfigError, match="source must be the project folder"):
        adopt(proj, tree, mode="inplace")


def test_link_shares_the_data_on_disk(archive, tree):
    proj = archive.create_project("lab")
    adopt(proj, tree, mode="link")
    (dest,) = proj.resolve("P02#base", "t1/t1.nii.gz")
    assert os.path.samefile(dest, tree / "P02" / "base" / "t1" / "t1.nii.gz")


def test_in_place_registers_the_project_folder_as_it_lies(archive, tree):
    import shutil

    proj = archive.create_project("lab")
    shutil.copytree(tree, proj.root, dirs_exist_ok=True)
    before = {p: p.stat().st_ino for p in proj.root.rglob("*.nii.gz")}
    plan = adopt(proj, proj.root, mode="inplace")
    assert (plan.action == "register").sum() == 5
    assert len(proj.files()) == 5
    assert {p: p.stat().st_ino for p in proj.root.rglob("*.nii.gz")} == before  # not copied
    assert set(adopt(proj, proj.root, mode="inplace").action) == {"already registered", "skip"}


def test_in_place_is_refused_in_a_pseudonymized_project(archive, tree):
    proj = archive.create_project("pseudo", naming="pseudonym")
    with pytest.raises(ConfigError, match="pseudonymized"):
        adopt(proj, proj.root, mode="inplace")
    adopt(proj, tree)  # a copy gets pseudonyms; a re-run finds them again
    assert len(proj.subjects()) == 2 and all(s.startswith("P") and s not in ("P01", "P02")
                                             for s in proj.subjects().subject)
    assert set(adopt(proj, tree).action) == {"already registered", "skip"}
    assert len(proj.subjects()) == 2


def test_an_unreadable_file_stops_the_run_before_anything_is_written(archive, tree):
    proj = archive.create_project("lab")
    broken = tree / "P02" / "base" / "t1" / "gone.nii.gz"
    broken.symlink_to(tree / "nowhere.nii.gz")  # unreadable even for root
    plan = adopt(proj, tree, dry_run=True)
    row = plan[plan.path == str(broken)].iloc[0]
    assert (row.action, row.reason) == ("unreadable", "unreadable (No such file or directory)")
    with pytest.raises(ForeignDataError, match=f"cannot adopt {broken}: unreadable"):
        adopt(proj, tree)
    assert proj.studies().empty and proj.files().empty

    broken.unlink()
    adopt(proj, tree)
    assert len(proj.files()) == 5


def test_the_nora_command_adopts_with_a_dry_run_first(tree, monkeypatch, capsys):
    home = tree.parent / "home"
    monkeypatch.setenv("NORA_HOME", str(home))
    assert nora(["-c", "lab"]) == 0
    assert nora(["-p", "lab", "--adopt", str(tree), "--adopt_pattern",
                 "{subject}/{study}/{series}", "--dryrun"]) == 0
    out = capsys.readouterr().out
    assert "5 to register" in out and "README.txt" in out
    assert nora(["-p", "lab", "--adopt", str(tree), "--adopt_mode", "copy"]) == 0
    assert "5 registered" in capsys.readouterr().out
    assert nora(["-p", "lab", "--select", "*/*.nii.gz"]) == 0
    assert len(capsys.readouterr().out.split()) == 3

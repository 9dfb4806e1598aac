"""Adding, tagging and deleting files: atomic, idempotent, never outside the project."""

import json
import os

import numpy as np
import pytest

from nora_lab.archive import NewFile
from nora_lab.archive.layout import TMP_PREFIX
from nora_lab.errors import AlreadyExistsError, NotFoundError, UnsafePathError


@pytest.fixture
def proj(archive):
    p = archive.create_project("demo")
    p.add_study(p.add_subject("P1"), "S1")
    return p


def leftovers(root):
    return [p for p in root.rglob("*") if p.name.startswith(TMP_PREFIX)]


def test_layout_is_root_project_subject_study_series_file(proj, tmp_path):
    src = tmp_path / "in.nii"
    src.write_bytes(b"data")
    dest = proj.add_file(src, "P1#S1", "3_t1/t1.nii")
    assert dest == proj.archive.root / "demo" / "P1" / "S1" / "3_t1" / "t1.nii"
    assert dest.read_bytes() == b"data" and src.exists()


def test_move_removes_the_source(proj, tmp_path):
    src = tmp_path / "in.nii"
    src.write_bytes(b"data")
    proj.add_file(src, "P1#S1", "a.nii", move=True)
    assert not src.exists()


def test_sidecar_becomes_file_metadata(proj, tmp_path):
    src = tmp_path / "t1.nii.gz"
    src.write_bytes(b"x")
    (tmp_path / "t1.json").write_text(json.dumps({"EchoTime": 0.003, "SeriesNumber": 3}))
    proj.add_file(src, "P1#S1", "3_t1/t1.nii.gz")
    df = proj.files("3_t1/", meta_keys=["EchoTime", "SeriesNumber"])
    assert df.loc[0, "EchoTime"] == 0.003 and df.loc[0, "SeriesNumber"] == 3


def test_readding_identical_content_is_a_no_op_and_different_content_is_refused(proj):
    proj.add_bytes(b"v1", "P1#S1", "a/b.nii", tags=["t"])
    proj.add_bytes(b"v1", "P1#S1", "a/b.nii", tags=["t"])
    assert len(proj.files()) == 1
    with pytest.raises(AlreadyExistsError, match="overwrite"):
        proj.add_bytes(b"v2", "P1#S1", "a/b.nii")
    assert (proj.study_dir("P1#S1") / "a/b.nii").read_bytes() == b"v1"
    proj.add_bytes(b"v2", "P1#S1", "a/b.nii", overwrite=True)
    assert (proj.study_dir("P1#S1") / "a/b.nii").read_bytes() == b"v2"
    assert leftovers(proj.root) == []


@pytest.mark.parametrize("bad", ["../escape.nii", "a/../../x", "/etc/x", "a\\b", ""])
def test_paths_outside_the_study_are_refused(proj, bad):
    with pytest.raises(UnsafePathError):
        proj.add_bytes(b"x", "P1#S1", bad)
    with pytest.raises(UnsafePathError):
        proj.out_path("P1#S1", bad)
    assert proj.files().empty


def test_symlink_escape_is_refused(proj, tmp_path):
    d = proj.study_dir("P1#S1")
    d.mkdir(parents=True, exist_ok=True)
    os.symlink(tmp_path, d / "link")
    with pytest.raises(UnsafePathError, match="outside"):
        proj.add_bytes(b"x", "P1#S1", "link/x.nii")


def test_unknown_study_and_missing_source(proj, tmp_path):
    with pytest.raises(NotFoundError, match="P9#S1"):
        proj.add_bytes(b"x", "P9#S1", "a.nii")
    with pytest.raises(NotFoundError, match="no such file"):
        proj.add_file(tmp_path / "missing.nii", "P1#S1", "a.nii")


def test_failed_write_leaves_nothing_and_keeps_the_old_file(proj, tmp_path):
    proj.add_bytes(b"old", "P1#S1", "a/img.nii.gz")

    class Broken:
        def to_filename(self, *a, **k):
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        proj.add_image(Broken(), "P1#S1", "a/img.nii.gz", overwrite=True)
    assert (proj.study_dir("P1#S1") / "a/img.nii.gz").read_bytes() == b"old"
    assert leftovers(proj.root) == []


def test_add_files_adds_several_files_in_one_transaction(proj, tmp_path):
    src = tmp_path / "t1.nii.gz"
    src.write_bytes(b"image")
    dests = proj.add_files("P1#S1", [
        NewFile("3_t1/t1.nii.gz", src=src, move=True, meta={"EchoTime": 0.003}),
        NewFile("3_t1/t1.json", data=b"{}", tags=["raw"])])
    assert [d.read_bytes() for d in dests] == [b"image", b"{}"]
    assert not src.exists()
    rows = proj.files("3_t1/t1*")
    assert sorted(r["name"] for r in rows.to_dict("records")) == ["t1.json", "t1.nii.gz"]


def test_add_files_is_all_or_nothing(proj, tmp_path):
    proj.add_bytes(b"old", "P1#S1", "3_t1/t1.json")
    src = tmp_path / "t1.nii.gz"
    src.write_bytes(b"image")
    with pytest.raises(AlreadyExistsError, match="t1.json exists with different content"):
        proj.add_files("P1#S1", [NewFile("3_t1/t1.nii.gz", src=src, move=True),
                                 NewFile("3_t1/t1.json", data=b"new")])
    assert src.exists()  # not moved
    assert not (proj.study_dir("P1#S1") / "3_t1" / "t1.nii.gz").exists()
    assert (proj.study_dir("P1#S1") / "3_t1" / "t1.json").read_bytes() == b"old"
    assert len(proj.files("3_t1/*")) == 1
    assert leftovers(proj.root) == []
    with pytest.raises(ValueError, match="needs src or data"):
        proj.add_files("P1#S1", [NewFile("x.txt")])


def test_add_image_writes_a_loadable_nifti(proj):
    import nibabel as nib

    img = nib.Nifti1Image(np.arange(8, dtype=np.float32).reshape(2, 2, 2), np.eye(4))
    path = proj.add_image(img, "P1#S1", "roi/r.nii.gz", tags=["roi"])
    assert np.array_equal(nib.load(path).get_fdata(), img.get_fdata())
    assert proj.files(tags=["roi"])["relpath"].tolist() == ["roi/r.nii.gz"]


def test_tags_on_files_studies_subjects(proj):
    path = proj.add_bytes(b"x", "P1#S1", "a.nii")
    proj.tag_files([path], ["t1", "good"])
    proj.untag_files([path], ["good"])
    assert proj.files()["tags"].tolist() == [["t1"]]
    proj.tag_study("P1#S1", "control,young")
    assert proj.study("P1#S1")["tags"] == ["control", "young"]
    proj.tag_subject("P1", ["x"])
    assert proj.subjects()["tags"].tolist() == [["x"]]


def test_delete_study_removes_rows_and_files_together(proj):
    proj.add_bytes(b"x", "P1#S1", "a/b.nii")
    folder = proj.study_dir("P1#S1")
    proj.delete_study("P1#S1")
    assert not folder.exists() and proj.files().empty and proj.studies().empty
    assert leftovers(proj.root) == []


def test_remove_file(proj):
    path = proj.add_bytes(b"x", "P1#S1", "a/b.nii")
    proj.remove_file(path)
    assert not path.exists() and proj.files().empty


def test_json_store(proj):
    proj.put_json("batch", "b1", {"jobs": [1, 2]})
    proj.put_json("batch", "b1", {"jobs": [3]})
    assert proj.get_json("batch", "b1") == {"jobs": [3]}
    assert proj.list_json("batch")["name"].tolist() == ["b1"]
    with pytest.raises(NotFoundError):
        proj.get_json("batch", "nope")

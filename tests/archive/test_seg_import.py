"""DICOM SEG in: segments become ROIs on the referenced series' NIfTI grid with their
labels; a SEG of a series the study lacks, or a file that is no SEG, adds nothing — on
SQLite and PostgreSQL. The round trip through Orthanc is in
tests/archive/pacs/test_seg_roundtrip.py (it uses this module's helpers)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pydicom
import pytest
from nibabel.processing import resample_from_to

from nora_lab.archive.seg_import import import_seg
from nora_lab.cli import main as nora
from nora_lab.errors import ForeignDataError
from nora_lab.imaging import ROI, series_grid, to_dicom_seg


def synthetic_series(folder, subject=0):
    """A small axial MR series (24 × 20 × 10 voxels) as a scanner writes one."""
    from nora_lab.demo.cohort import cohort
    from nora_lab.demo.scan import Grid
    from nora_lab.demo.series import write_series

    grid = Grid((24, 20, 10), (-12.0, -10.0, -5.0))
    vol = (np.arange(np.prod(grid.shape)).reshape(grid.shape) % 1000).astype(np.uint16)
    return write_series(cohort()[subject], vol, grid, folder)


def rois_on(datasets):
    """Two overlapping ROIs drawn on the series' voxel grid."""
    grid, _ = series_grid(datasets)
    core = ROI(np.zeros(grid.shape), grid.affine, name="lesion core")
    core.data[5:9, 4:10, 3:6] = True
    edema = ROI(np.zeros(grid.shape), grid.affine, name="edema")
    edema.data[3:12, 2:12, 2:8] = True
    return [core, edema]


def assert_same_mask(roi, path):
    """The imported ROI file holds ``roi``'s voxels, compared on the file's own grid."""
    img = nib.load(path)
    expected = resample_from_to(nib.Nifti1Image(roi.data.astype(np.uint8), roi.affine),
                                img, order=0)
    assert np.array_equal(np.asarray(expected.dataobj) > 0, np.asarray(img.dataobj) > 0)
    assert int((np.asarray(img.dataobj) > 0).sum()) == int(roi.data.sum())


@pytest.fixture
def study(archive, tmp_path):
    proj = archive.create_project("seg")
    files = synthetic_series(tmp_path / "series")
    proj.import_dicom(tmp_path / "series", progress=False)
    (psid,) = proj.studies().psid
    return proj, psid, [pydicom.dcmread(f) for f in files]


def test_segments_become_named_rois_on_the_series_grid(study, tmp_path):
    proj, psid, source = study
    rois = rois_on(source)
    to_dicom_seg(source, rois).save_as(tmp_path / "seg.dcm")
    table = import_seg(proj, psid, tmp_path / "seg.dcm")
    assert table[["segment_number", "label", "relpath", "voxels"]].values.tolist() == [
        [1, "lesion core", "rois/lesion_core.nii.gz", 72],
        [2, "edema", "rois/edema.nii.gz", 540]]
    (t1,) = proj.resolve(psid, "2_T1*/*.nii.gz")
    for roi, rel in zip(rois, table.relpath, strict=True):
        (path,) = proj.resolve(psid, rel)
        assert_same_mask(roi, path)
        assert np.allclose(nib.load(path).affine, nib.load(t1).affine)  # the series' grid
        meta = proj.file_meta(path)
        assert meta["name"] == roi.name and meta["source"] == "DICOM SEG"
    files = proj.files(psid=psid, tags=["roi"])
    assert sorted(files.relpath) == ["rois/edema.nii.gz", "rois/lesion_core.nii.gz"]

    before = proj.files(psid=psid)[["relpath", "size"]].values.tolist()
    import_seg(proj, psid, tmp_path / "seg.dcm")  # again: nothing changes
    assert proj.files(psid=psid)[["relpath", "size"]].values.tolist() == before


def test_a_seg_of_a_series_the_study_lacks_is_refused(study, tmp_path):
    proj, psid, _ = study
    other = [pydicom.dcmread(f) for f in synthetic_series(tmp_path / "other", subject=1)]
    to_dicom_seg(other, rois_on(other)[:1]).save_as(tmp_path / "seg.dcm")
    with pytest.raises(ForeignDataError, match=r"seg.dcm: the SEG references series "
                       rf"{other[0].SeriesInstanceUID}, which study '{psid}' does not hold"):
        import_seg(proj, psid, tmp_path / "seg.dcm")
    assert proj.files(psid=psid, tags=["roi"]).empty


def test_a_file_that_is_no_seg_names_itself(study, tmp_path):
    proj, psid, source = study
    (tmp_path / "junk.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 20)
    with pytest.raises(ForeignDataError, match="junk.dcm: not a readable DICOM SEG"):
        import_seg(proj, psid, tmp_path / "junk.dcm")
    source[0].save_as(tmp_path / "image.dcm")  # an image, not a SEG
    with pytest.raises(ForeignDataError, match="image.dcm: not a readable DICOM SEG"):
        import_seg(proj, psid, tmp_path / "image.dcm")
    assert proj.files(psid=psid, tags=["roi"]).empty


def test_the_nora_command_imports_a_seg(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NORA_HOME", str(tmp_path / "home"))
    files = synthetic_series(tmp_path / "series")
    assert nora(["-c", "lab"]) == 0
    assert nora(["-p", "lab", "--import", str(tmp_path / "series")]) == 0
    source = [pydicom.dcmread(f) for f in files]
    to_dicom_seg(source, rois_on(source)).save_as(tmp_path / "seg.dcm")
    capsys.readouterr()
    assert nora(["-p", "lab", "--study", "demo01#MR1", "--seg_import",
                 str(tmp_path / "seg.dcm")]) == 0
    assert "lesion core" in capsys.readouterr().out

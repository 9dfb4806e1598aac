"""3D Slicer scenes in, segmentations out: an MRB assembled from the Slicer-written samples
that ship in slicerio's wheel imports with named, coloured ROIs and point sets; ROIs export
as a .seg.nrrd Slicer reads; broken bundles change nothing — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import zipfile

import nibabel as nib
import numpy as np
import pytest
import slicerio

from nora_lab.archive.slicer import export_seg_nrrd, import_mrb
from nora_lab.cli import main as nora
from nora_lab.errors import AlreadyExistsError, ForeignDataError, NotFoundError
from nora_lab.imaging import PointSet

SAMPLES = {n: slicerio.get_testdata_file(n) for n in
           ("CTChest4.nrrd", "Segmentation.seg.nrrd", "SegmentationOverlapping.seg.nrrd",
            "F_1.fcsv")}

_MRML = """<?xml version="1.0" encoding="UTF-8"?>
<MRML version="Slicer4.4.0" userTags="">
 <VolumeArchetypeStorage id="vtkMRMLVolumeArchetypeStorageNode1" fileName="Data/CTChest4.nrrd"/>
 <Volume id="vtkMRMLScalarVolumeNode1" name="CTChest"
         storageNodeRef="vtkMRMLVolumeArchetypeStorageNode1"/>
 <SegmentationStorage id="vtkMRMLSegmentationStorageNode1" fileName="Data/Segmentation.seg.nrrd"/>
 <Segmentation id="vtkMRMLSegmentationNode1" name="Segmentation"
         storageNodeRef="vtkMRMLSegmentationStorageNode1"/>
 <SegmentationStorage id="vtkMRMLSegmentationStorageNode2"
         fileName="Data/SegmentationOverlapping.seg.nrrd"/>
 <Segmentation id="vtkMRMLSegmentationNode2" name="Overlapping"
         storageNodeRef="vtkMRMLSegmentationStorageNode2"/>
 <MarkupsFiducialStorage id="vtkMRMLMarkupsFiducialStorageNode1" fileName="Data/F_1.fcsv"/>
 <MarkupsFiducial id="vtkMRMLMarkupsFiducialNode1" name="F_1"
         storageNodeRef="vtkMRMLMarkupsFiducialStorageNode1"/>
 <MarkupsJsonStorage id="vtkMRMLMarkupsJsonStorageNode1" fileName="Data/F_2.mrk.json"/>
 <MarkupsFiducial id="vtkMRMLMarkupsFiducialNode2" name="landmarks"
         storageNodeRef="vtkMRMLMarkupsJsonStorageNode1"/>
</MRML>
"""


def make_mrb(path, *, mrml=_MRML, drop=(), corrupt=()):
    """An MRB as Slicer saves one: <scene>/<scene>.mrml and <scene>/Data/…"""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Scene/Scene.mrml", mrml)
        for name, src in SAMPLES.items():
            if name in drop:
                continue
            data = b"NRRD0004\ngarbage" if name in corrupt else open(src, "rb").read()
            zf.writestr(f"Scene/Data/{name}", data)
        zf.writestr("Scene/Data/F_2.mrk.json", json.dumps(
            slicerio.read_markups_fcsv(SAMPLES["F_1.fcsv"])))
    return path


@pytest.fixture
def proj(archive):
    p = archive.create_project("slicer")
    p.add_study(p.add_subject("P01"), "1")
    return p


def test_an_mrb_imports_volumes_named_rois_and_point_sets(proj, tmp_path):
    table = import_mrb(proj, "P01#1", make_mrb(tmp_path / "case.mrb"))
    assert table.groupby("kind").size().to_dict() == {"pointset": 2, "roi": 15, "volume": 1}
    files = proj.files(psid="P01#1").set_index("relpath")
    assert files.loc["slicer/CTChest4.nrrd", "filetype"] == "nrrd"

    (lung,) = proj.resolve("P01#1", "rois/right_lung.nii.gz")
    meta = proj.file_meta(lung)
    assert (meta["name"], meta["color"]) == ("right lung", "#16c547")
    assert meta["terminology"]["type"][2] == "Lung"  # Slicer's terminology kept
    assert files.loc["rois/right_lung.nii.gz", "tags"] == ["roi"]
    seg = slicerio.read_segmentation(SAMPLES["Segmentation.seg.nrrd"])
    img = nib.load(lung)
    expected = slicerio.segment_mask(seg, "Segment_5")
    assert np.array_equal(np.asarray(img.dataobj) > 0, expected)
    assert np.allclose(img.affine, np.diag([-1, -1, 1, 1]) @ seg["ijkToLPS"])  # RAS+
    # the overlapping scene's segments get names of their own; its extra layer is kept
    assert "rois/overlapping_sphere.nii.gz" in files.index
    assert "rois/ribs_2.nii.gz" in files.index

    (ano,) = proj.resolve("P01#1", "annotations/F_1.ano.json")
    (ps,) = [PointSet.from_json(ano.read_bytes())]
    assert ps.names[:3] == ["F_1-1", "F_1-2", "F_1-7"] and len(ps) == 12
    assert np.allclose(ps.coords[0], [6.282824184397157, 51.06216973995272, -10.2143])  # RAS
    land = PointSet.from_json(proj.resolve("P01#1", "annotations/landmarks.ano.json")[0]
                              .read_bytes())
    assert np.allclose(land.coords, ps.coords)  # .mrk.json and .fcsv agree


def test_importing_the_same_scene_again_changes_nothing(proj, tmp_path):
    mrb = make_mrb(tmp_path / "case.mrb")
    import_mrb(proj, "P01#1", mrb)
    before = proj.files(psid="P01#1")[["relpath", "size"]].values.tolist()
    import_mrb(proj, "P01#1", mrb)
    assert proj.files(psid="P01#1")[["relpath", "size"]].values.tolist() == before


@pytest.mark.parametrize("kind, match", [
    ("not a zip", "not a Slicer scene bundle"),
    ("no scene", "expected one .mrml scene"),
    ("bad scene", "Scene/Scene.mrml is not readable MRML"),
    ("missing file", "the bundle has no Scene/Data/F_1.fcsv"),
    ("corrupt segmentation", "Scene/Data/SegmentationOverlapping.seg.nrrd: cannot read"),
])
def test_a_broken_mrb_names_the_problem_and_adds_nothing(proj, tmp_path, kind, match):
    mrb = tmp_path / "broken.mrb"
    if kind == "not a zip":
        mrb.write_bytes(b"PK but not really")
    elif kind == "no scene":
        with zipfile.ZipFile(mrb, "w") as zf:
            zf.writestr("Scene/Data/CTChest4.nrrd", b"")
    elif kind == "bad scene":
        make_mrb(mrb, mrml="<MRML><Volume")
    elif kind == "missing file":
        make_mrb(mrb, drop=("F_1.fcsv",))
    else:
        make_mrb(mrb, corrupt=("SegmentationOverlapping.seg.nrrd",))
    with pytest.raises(ForeignDataError, match=match) as err:
        import_mrb(proj, "P01#1", mrb)
    assert str(mrb) in str(err.value)
    assert proj.files(psid="P01#1").empty


def test_the_study_must_exist(proj, tmp_path):
    with pytest.raises(NotFoundError, match="no study 'P09#1'"):
        import_mrb(proj, "P09#1", make_mrb(tmp_path / "case.mrb"))


def test_rois_export_as_a_seg_nrrd_slicer_reads(proj, tmp_path):
    import_mrb(proj, "P01#1", make_mrb(tmp_path / "case.mrb"))
    out = export_seg_nrrd(proj, "P01#1", tmp_path / "rois.seg.nrrd", pattern="rois/*lung*")
    seg = slicerio.read_segmentation(str(out))
    assert [(s["name"], [round(c * 255) for c in s["color"]]) for s in seg["segments"]] == [
        ("left lung", [197, 25, 99]), ("left lung", [197, 25, 99]),
        ("right lung", [22, 197, 71]), ("right lung", [22, 197, 71])]
    ref = slicerio.read_segmentation(SAMPLES["Segmentation.seg.nrrd"])
    mask = slicerio.segment_mask(seg, seg["segments"][2]["id"])
    assert np.array_equal(mask, slicerio.segment_mask(ref, "Segment_5"))
    assert np.allclose(seg["ijkToLPS"], ref["ijkToLPS"])
    with pytest.raises(AlreadyExistsError):
        export_seg_nrrd(proj, "P01#1", out)
    with pytest.raises(NotFoundError, match=r"no ROI matching 'rois/none\*'"):
        export_seg_nrrd(proj, "P01#1", tmp_path / "x.seg.nrrd", pattern="rois/none*")


def test_rois_on_different_grids_are_refused(proj, tmp_path):
    for name, shape in (("a", (4, 4, 4)), ("b", (5, 4, 4))):
        img = nib.Nifti1Image(np.ones(shape, np.uint8), np.eye(4))
        proj.add_image(img, "P01#1", f"rois/{name}.nii.gz", tags=["roi"])
    with pytest.raises(ForeignDataError, match="b.nii.gz: not on the voxel grid of rois/a"):
        export_seg_nrrd(proj, "P01#1", tmp_path / "x.seg.nrrd")
    assert not (tmp_path / "x.seg.nrrd").exists()


def test_the_nora_command_imports_and_exports(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NORA_HOME", str(tmp_path / "home"))
    from nora_lab.archive import Archive

    arc = Archive.open()
    p = arc.create_project("lab")
    p.add_study(p.add_subject("P01"), "1")
    arc.close()
    mrb = make_mrb(tmp_path / "case.mrb")
    assert nora(["-p", "lab", "--study", "P01#1", "--mrb_import", str(mrb)]) == 0
    assert "right lung" in capsys.readouterr().out
    assert nora(["-p", "lab", "--study", "P01#1", "--seg_nrrd_export",
                 str(tmp_path / "out.seg.nrrd")]) == 0
    assert len(slicerio.read_segmentation(str(tmp_path / "out.seg.nrrd"))["segments"]) == 15

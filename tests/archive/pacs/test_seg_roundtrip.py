"""The DICOM SEG round trip through a real Orthanc: a series is pulled from the PACS, ROIs
drawn on it go back as a SEG (C-STORE), the SEG is pulled again (C-MOVE, originals kept)
and imported — the same masks and the same segment names come back."""

from __future__ import annotations

import pydicom
import pytest
from test_seg_import import assert_same_mask, rois_on, synthetic_series

from nora_lab.archive.pacs import find_series, pull, push
from nora_lab.archive.seg_import import import_seg
from nora_lab.imaging import to_dicom_seg

pytestmark = pytest.mark.pacs


def test_an_roi_goes_to_the_pacs_as_seg_and_comes_back_the_same(project, cfg, small_orthanc,
                                                               tmp_path):
    cfg.add("SMALL", aet=small_orthanc.aet, host="127.0.0.1", port=small_orthanc.dicom_port)
    files = synthetic_series(tmp_path / "series")
    assert set(push("SMALL", files, config=cfg, progress=False).status) == {"sent"}
    mr = find_series("SMALL", config=cfg, series_description="T1 MPRAGE")
    got = pull("SMALL", project, series=mr, config=cfg, progress=False)
    assert got.status.tolist() == ["imported"], got.reason
    psid = got.psid.iloc[0]

    source = [pydicom.dcmread(f) for f in files]
    rois = rois_on(source)
    seg = to_dicom_seg(source, rois, series_description="nora_lab lesions")
    assert push("SMALL", seg, config=cfg, progress=False).status.tolist() == ["sent"]

    back = find_series("SMALL", config=cfg, modality="SEG")
    assert back.SeriesDescription.tolist() == ["nora_lab lesions"]
    pulled = pull("SMALL", project, series=back, keep_dicom=True, config=cfg, progress=False)
    assert pulled.psid.tolist() == [psid]  # the SEG's study is the series' study
    (kept,) = project.resolve(psid, f"{pulled.series_folder.iloc[0]}/dicom.tar.gz")

    table = import_seg(project, psid, kept)
    assert table.label.tolist() == ["lesion core", "edema"]
    for roi, rel in zip(rois, table.relpath, strict=True):
        (path,) = project.resolve(psid, rel)
        assert_same_mask(roi, path)
        assert project.file_meta(path)["name"] == roi.name

"""Bad input: a clear error naming the file (or study) and the problem, raised before
anything is stored; grids that differ are resampled through world coordinates when they
cover the image."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from segstudies import IMAGE, LABELS, TINY, blob, make_studies

from nora_lab import segment
from nora_lab.errors import SegmentError
from nora_lab.segment.config import ModelConfig
from nora_lab.segment.data import find_cases, load_case

CFG = ModelConfig(images=(IMAGE,), labels=LABELS)


def _no_model(project):
    assert project.list_json("model").empty


def test_labels_on_another_grid_are_resampled_through_world_coordinates(project):
    psid = make_studies(project, 1)[0]
    _, gm, wm = blob(0)
    # the WM ROI at 1 mm: same world positions, twice the voxels
    fine = np.repeat(np.repeat(np.repeat(np.asarray(wm.dataobj), 2, 0), 2, 1), 2, 2)
    aff = np.diag([1.0, 1.0, 1.0, 1.0])
    aff[:3, 3] = -0.5
    project.add_image(nib.Nifti1Image(fine, aff), psid, LABELS["wm"], overwrite=True)
    vol = load_case(find_cases(project, CFG, [psid])[0], CFG)
    assert vol.label.shape == (32, 32, 32)
    from nora_lab.reading._roi import dice

    assert dice(vol.label == 2, np.asarray(wm.dataobj) > 0) > 0.95


def test_labels_that_do_not_cover_the_image_are_refused_with_the_reason(project):
    psid = make_studies(project, 1)[0]
    _, _, wm = blob(0)
    shifted = np.diag([2.0, 2.0, 2.0, 1.0])
    shifted[:3, 3] = 40.0  # 20 voxels away: most of the image is outside its field of view
    project.add_image(nib.Nifti1Image(np.asarray(wm.dataobj), shifted), psid, LABELS["wm"],
                      overwrite=True)
    with pytest.raises(SegmentError, match=r"wm.nii.gz: on a different grid .* covers only"):
        load_case(find_cases(project, CFG, [psid])[0], CFG)


def test_an_empty_label_is_named_with_its_class_and_study(project):
    psids = make_studies(project, 3)
    project.add_image(nib.Nifti1Image(np.zeros((32, 32, 32), np.uint8), np.diag([2, 2, 2, 1.0])),
                      psids[1], LABELS["gm"], overwrite=True)
    with pytest.raises(SegmentError, match=rf"gm.nii.gz: the label of class 'gm' is empty in "
                                           rf"study {psids[1]}"):
        load_case(find_cases(project, CFG, psids)[1], CFG)


def test_fewer_studies_than_the_split_needs(project):
    psids = make_studies(project, 1)
    with pytest.raises(SegmentError, match="1 labelled study selected; the split needs 2"):
        segment.train(project, "m", images=IMAGE, labels=LABELS, studies=psids, **TINY)
    _no_model(project)


def test_a_missing_contrast_names_every_study_that_lacks_it(project):
    psids = make_studies(project, 3)
    project.add_image(blob(0)[0], psids[0], "t2/s001.nii.gz")
    with pytest.raises(SegmentError) as err:
        segment.train(project, "m", images=[IMAGE, "t2/"], labels=LABELS, studies=psids,
                      **TINY)
    msg = str(err.value)
    assert "2 input problem(s)" in msg and psids[0] not in msg
    assert all(f"study {p}: no file matches the contrast 2 pattern 't2/'" in msg
               for p in psids[1:])
    _no_model(project)


def test_out_of_memory_names_the_patch_and_batch_size_to_lower(project):
    """A real allocation failure: a 4096³ patch (275 GB) is refused by the allocator."""
    psids = make_studies(project, 2)
    with pytest.raises(SegmentError, match=r"out of memory on cpu training 2 patches of "
                                           r"4096×4096×4096 .* lower batch_size \(e.g. 1\) "
                                           r"or patch"):
        segment.train(project, "big", images=IMAGE, labels=LABELS, studies=psids,
                      wait=True, **{**TINY, "patch": 4096})
    assert project.get_json("model", "big")["status"] == "error"


def test_a_gpu_asked_for_where_there_is_none_is_named(project):
    from nora_lab.segment.network import pick_device

    with pytest.raises(SegmentError, match="no CUDA device is visible.*device='cpu'"):
        pick_device("cuda")


def test_on_slurm_a_gpu_partition_gets_a_gres_request():
    from nora_lab.batch.config import settings
    from nora_lab.segment.trainer import training_resources

    cfg = settings(backend="slurm", job_extra_directives=["--exclusive"])
    assert training_resources(cfg, gpus=2) == {
        "job_extra_directives": ["--exclusive", "--gres=gpu:2"]}
    assert training_resources(cfg, gpus=0) == {}
    assert training_resources(settings(backend="local"), gpus=1) == {}


@pytest.mark.slurm
def test_a_partition_without_gpus_trains_on_cpu(slurm):
    from nora_lab.batch.config import settings
    from nora_lab.segment.trainer import slurm_gpus, training_resources

    assert slurm_gpus(None) == 0
    assert training_resources(settings(backend="slurm", queue="debug")) == {}


def test_a_bad_config_says_what_is_expected():
    with pytest.raises(SegmentError, match="divisible by 4"):
        ModelConfig(images=(IMAGE,), labels=LABELS, patch=18, channels=(4, 8, 16),
                    strides=(2, 2))
    with pytest.raises(SegmentError, match="needs classes="):
        ModelConfig(images=(IMAGE,), labels="seg/labels.nii")
    with pytest.raises(SegmentError, match="unknown keys"):
        ModelConfig.from_dict({"images": [IMAGE], "labels": LABELS, "epochz": 3})

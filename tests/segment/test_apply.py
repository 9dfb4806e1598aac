"""Applying a model: a built-in batch job writing tagged ROIs linked to the model, locally
and on Slurm; re-runs change nothing; evaluation against the studies' own ROIs."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from segstudies import IMAGE, blob

from nora_lab import segment
from nora_lab.errors import SegmentError


def _outputs(proj, name, psid=None):
    df = proj.files(f"seg/{name}/", psid=psid)
    return df.sort_values("path").reset_index(drop=True)


@pytest.fixture(scope="module")
def applied(trained):
    """The trained model applied once to all six studies (one batch: each job process
    imports torch and MONAI, which takes seconds)."""
    proj, name, labelled, new, _ = trained
    run = segment.apply(proj, name, labelled + new)
    return trained, run


def test_apply_writes_a_label_map_and_one_roi_per_class_into_each_study(applied):
    (proj, name, labelled, new, _), run = applied
    assert (run.states()["state"] == "d").all(), run.states()
    df = _outputs(proj, name)
    assert sorted(df["relpath"].unique()) == [f"seg/{name}/{f}" for f in
                                              ("gm.nii.gz", "labels.nii.gz", "wm.nii.gz")]
    assert set(df["psid"]) == set(labelled + new)
    assert all({"segmentation", "roi", name} <= set(t) for t in df["tags"])
    lab = nib.load(proj.resolve(new[0], f"seg/{name}/labels.nii.gz")[0])
    img = nib.load(proj.resolve(new[0], IMAGE)[0])
    assert lab.shape == img.shape and np.allclose(lab.affine, img.affine)
    assert set(np.unique(np.asarray(lab.dataobj))) <= {0, 1, 2}


def test_each_prediction_is_linked_to_the_model_and_its_inputs(applied):
    from nora_lab.batch.catalogue import provenance

    (proj, name, _, new, _), _ = applied
    path = proj.resolve(new[0], f"seg/{name}/wm.nii.gz")[0]
    meta = proj.file_meta(path)
    rec = proj.get_json("model", name)
    assert meta["model"]["name"] == name and meta["class"] == "wm"
    assert meta["model"]["weights_sha256"] == rec["weights_sha256"]
    prov = provenance(proj, path)
    assert prov["job"] == "segment_apply" and prov["inputs"][0]["unchanged"]


def test_re_running_apply_is_idempotent(applied):
    (proj, name, _, new, _), _ = applied
    before = _outputs(proj, name, new[0])
    digests = [open(p, "rb").read() for p in before["path"]]
    n_files = len(proj.files())
    segment.apply(proj, name, new[:1])
    after = _outputs(proj, name, new[0])
    assert len(proj.files()) == n_files
    assert after[["path", "relpath"]].equals(before[["path", "relpath"]])
    assert [sorted(t) for t in after["tags"]] == [sorted(t) for t in before["tags"]]
    assert [open(p, "rb").read() for p in after["path"]] == digests


def test_evaluate_gives_dice_and_hausdorff_per_study_and_class(applied):
    (proj, name, labelled, *_), _ = applied
    df = segment.evaluate(proj, name)
    assert list(df.columns) == ["psid", "class", "dice", "hausdorff_mm", "hd95_mm", "split"]
    assert sorted(set(df["psid"])) == sorted(labelled) and set(df["class"]) == {"gm", "wm"}
    assert df["dice"].between(0, 1).all() and (df["hd95_mm"] <= df["hausdorff_mm"]).all()
    assert set(df["split"]) == {"train", "validation"}


def test_predict_is_the_api_other_tools_use(trained):
    proj, name, *_ = trained
    model = segment.load_model(proj, name, device="cpu")
    img, gm, wm = blob(99)
    lab = model.predict(img)
    assert lab.shape == img.shape and lab.dtype == np.uint8 and model.classes == ("gm", "wm")
    rois = model.predict_rois(img)
    assert set(rois) == {"gm", "wm"} and (rois["wm"] == (lab == 2)).all()
    with pytest.raises(SegmentError, match="takes 1 contrast"):
        model.predict([img, img])


@pytest.mark.slurm
def test_apply_runs_on_slurm(trained, slurm, tmp_path):
    proj, name, _, new, _ = trained
    run = segment.apply(proj, name, new, **slurm.options(tmp_path, memory="3GB"))
    assert (run.states()["state"] == "d").all(), run.states()[["unit", "state", "error"]]
    assert set(_outputs(proj, name)["psid"]) >= set(new)
    assert all(w.startswith("slurm:") or "slurm" in w for w in run.states()["worker"]), \
        run.states()["worker"]

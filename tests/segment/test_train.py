"""Training: a batch job whose model is stored in the project like its other objects."""

from __future__ import annotations

import json

import pytest
from segstudies import IMAGE, LABELS, TINY

from nora_lab import segment
from nora_lab.archive.layout import sha256
from nora_lab.errors import AlreadyExistsError, SegmentError


def test_the_model_is_stored_with_config_weights_log_studies_and_versions(trained):
    proj, name, labelled, _, run = trained
    rec = proj.get_json("model", name)
    assert rec["status"] == "done" and rec["kind"] == "nora"
    assert sorted(rec["trained_on"] + rec["validated_on"]) == sorted(labelled)
    assert len(rec["validated_on"]) == 1
    assert rec["config"]["images"] == [IMAGE] and rec["config"]["classes"] == ["gm", "wm"]
    assert rec["versions"]["torch"].startswith("2.13") and rec["versions"]["monai"]
    folder = run.folder
    assert rec["weights_sha256"] == sha256(folder / "weights.pt")
    assert json.loads((folder / "model.json").read_text()) == rec
    assert [e["epoch"] for e in rec["epochs"]] == [1, 2]


def test_models_are_listed_and_described(trained):
    proj, name, *_ = trained
    df = segment.list_models(proj)
    row = df.set_index("name").loc[name]
    assert row.status == "done" and row.trained_on == 3 and list(row.classes) == ["gm", "wm"]
    info = segment.describe(proj, name)
    assert info["epochs_logged"] == 2 and set(info["last_epoch"]) >= {"dice_gm", "dice_wm"}


def test_the_log_has_dice_per_class_per_epoch_and_progress_reached_the_end(trained):
    *_, run = trained
    log = run.log()
    assert list(log.columns) == ["epoch", "loss", "dice_gm", "dice_wm", "seconds"]
    assert log["dice_wm"].between(0, 1).all() and (log["loss"] > 0).all()
    assert run.progress() == {"step": 12, "steps": 12, "epoch": 2}
    fig = run.curve()
    assert len(fig.axes[0].lines) == 3  # loss and one Dice curve per class


def test_training_resumes_from_its_checkpoint(trained):
    proj, name, *_ = trained
    run = segment.train(proj, name, images=IMAGE, labels=LABELS, resume=True, epochs=3,
                        wait=True, threads=1)
    assert [e["epoch"] for e in run.log().to_dict("records")] == [1, 2, 3]
    assert proj.get_json("model", name)["config"]["epochs"] == 3


def test_a_name_in_use_is_refused_unless_overwritten(trained):
    proj, name, labelled, *_ = trained
    with pytest.raises(AlreadyExistsError, match="overwrite=True"):
        segment.train(proj, name, images=IMAGE, labels=LABELS, studies=labelled, **TINY)


def test_a_model_still_training_is_not_applied(trained):
    from nora_lab.segment import store

    proj, name, *_ = trained
    rec = store.get_record(proj, name)
    store.save_record(proj, "unfinished", {**rec, "name": "unfinished", "status": "training"})
    with pytest.raises(SegmentError, match="'training'"):
        segment.apply(proj, "unfinished")
    with pytest.raises(SegmentError, match="not ready"):
        segment.load_model(proj, "unfinished")


@pytest.mark.slurm
@pytest.mark.parametrize("backend", ["sqlite"])  # the archive contract is not what runs here
def test_training_runs_as_a_slurm_job(project, slurm, tmp_path):
    from segstudies import make_studies

    psids = make_studies(project, 3)
    run = segment.train(project, "on_slurm", images=IMAGE, labels=LABELS, studies=psids,
                        wait=True, threads=1, **{**TINY, "epochs": 1},
                        **slurm.options(tmp_path, memory="3GB"))
    rec = project.get_json("model", "on_slurm")
    assert rec["status"] == "done" and rec["backend"] == "slurm"
    assert rec["result"]["device"] == "cpu"  # the single-node Slurm has no gres gpu
    assert (run.folder / "weights.pt").is_file()

"""Backend choice (assist.yaml, per call) and the backends that cannot run here:
each names what is missing — weights, package, GPU, server — and is tested up to there."""

import nibabel as nib
import numpy as np
import pytest

from nora_lab.assist import Assistant, ModelPriorBackend, Proposal, make_backend, settings
from nora_lab.assist.evaluate import dice
from nora_lab.errors import AssistError, BackendUnavailable, ConfigError

from .conftest import phantom


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("NORA_HOME", str(tmp_path))
    return tmp_path


def test_the_shipped_backend_is_cpu_and_a_lab_file_changes_it(home):
    assert settings()[0] == "cpu"
    (home / "assist.yaml").write_text(
        "assist:\n  backend: nninteractive-remote\n"
        "  nninteractive-remote:\n    url: http://gpu-box:1527\n")
    name, cfg = settings()
    assert (name, cfg["url"], cfg["api_key"]) == ("nninteractive-remote",
                                                  "http://gpu-box:1527", None)
    name, cfg = settings("cpu", margin_mm=8)  # per call wins
    assert name == "cpu" and cfg["margin_mm"] == 8 and cfg["smoothing_mm"] == 0.8


def test_an_unknown_backend_or_a_bad_file_is_named(home):
    with pytest.raises(ConfigError, match="'sam'.*cpu, nninteractive"):
        settings("sam")
    (home / "assist.yaml").write_text("assist: [1, 2]\n")
    with pytest.raises(ConfigError, match="assist.yaml"):
        settings()


def test_nninteractive_without_weights_names_the_setting(home):
    img, _ = phantom("ct")
    with pytest.raises(BackendUnavailable, match="nninteractive.weights"):
        Assistant(img, backend="nninteractive")


def test_nninteractive_with_a_folder_that_is_no_model_names_the_folder(home):
    with pytest.raises(BackendUnavailable, match=f"{home}.*plans.json"):
        make_backend("nninteractive", weights=str(home)).set_image(np.zeros((4, 4, 4)),
                                                                     np.eye(4))


def test_nninteractive_with_weights_but_no_package_names_the_package(home):
    (home / "plans.json").write_text("{}")
    with pytest.raises(BackendUnavailable, match="pip install nninteractive"):
        Assistant(np.zeros((4, 4, 4)), backend="nninteractive", weights=str(home))


def test_remote_without_a_url_names_the_setting(home):
    with pytest.raises(BackendUnavailable, match="nninteractive-remote.url"):
        Assistant(np.zeros((4, 4, 4)), backend="nninteractive-remote")


def test_remote_with_a_url_but_no_client_names_the_package(home):
    with pytest.raises(BackendUnavailable, match="pip install nninteractive-client"):
        Assistant(np.zeros((4, 4, 4)), backend="nninteractive-remote",
                  url="http://127.0.0.1:9")


def test_the_model_prior_without_a_model_names_the_settings(home):
    with pytest.raises(BackendUnavailable, match="model.model and model.label"):
        Assistant(np.zeros((4, 4, 4)), backend="model")


def test_the_model_prior_names_an_unknown_stored_model(home):
    backend = make_backend("model", model=str(home / "missing.ts"), label="wm")
    with pytest.raises((BackendUnavailable, AssistError), match="missing.ts"):
        backend.set_image(np.zeros((4, 4, 4)), np.eye(4))


class _Predicts:
    """A model with nora_lab.segment's prior API (``classes``, ``predict_rois``) whose
    prediction is a known mask: the ball without its top half."""

    classes = ("ball",)

    def __init__(self, mask):
        self.mask = mask

    def predict_rois(self, img):
        assert isinstance(img, nib.Nifti1Image)
        return {"ball": self.mask}


def test_the_model_prior_is_corrected_by_clicks():
    img, truth = phantom("ct")
    half = truth.copy()
    half[:, :, 24:] = False
    a = Assistant(img, backend=ModelPriorBackend(_Predicts(half), "ball"))
    a.add_point((32, 30, 28))  # in the half the model missed
    assert dice(a.mask(), truth) >= 0.9
    with pytest.raises(AssistError, match=r"predicts \['ball'\], not 'liver'"):
        Assistant(img, backend=ModelPriorBackend(_Predicts(half), "liver"))


def test_a_proposal_round_trips_through_its_box():
    mask = np.zeros((10, 10, 10), bool)
    mask[2:5, 3:7, 4] = True
    p = Proposal.from_mask(mask)
    assert p.bbox == (slice(2, 5), slice(3, 7), slice(4, 5)) and p.count == 12
    assert np.array_equal(p.full(), mask)
    assert Proposal.from_mask(np.zeros((3, 3, 3))).bbox is None

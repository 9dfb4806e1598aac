"""Bring your own model: TorchScript, ONNX and MONAI bundles made here from a small UNet,
loaded by the libraries' own code, predicting like the network itself, applied as a job."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from monai.networks.nets import UNet
from segstudies import IMAGE, blob, make_studies

from nora_lab import segment
from nora_lab.errors import SegmentError
from nora_lab.segment.inference import segment_volume

SETTINGS = {"classes": ["gm", "wm"], "images": [IMAGE], "spacing": 2.0, "patch": 16}


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    n = UNet(spatial_dims=3, in_channels=1, out_channels=3, channels=(4, 8), strides=(2,),
             num_res_units=0)
    return n.eval()


@pytest.fixture(scope="module")
def expected(net):
    img = blob(7)[0]
    data = np.asarray(img.dataobj, dtype=np.float32)[None]
    return img, segment_volume(net, data, (2.0, 2.0, 2.0), spacing=2.0, patch=(16,) * 3)


def _torchscript(net, path):
    torch.jit.script(net).save(str(path))
    return path


def _onnx(net, path):
    torch.onnx.export(net, torch.zeros(1, 1, 16, 16, 16), str(path), input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "b"}, "y": {0: "b"}},
                      dynamo=False)
    return path


def _bundle(net, path):
    (path / "configs").mkdir(parents=True)
    (path / "models").mkdir()
    (path / "configs" / "inference.json").write_text(json.dumps({"network_def": {
        "_target_": "UNet", "spatial_dims": 3, "in_channels": 1, "out_channels": 3,
        "channels": [4, 8], "strides": [2], "num_res_units": 0}}))
    (path / "configs" / "metadata.json").write_text(json.dumps({"network_data_format": {
        "outputs": {"pred": {"channel_def": {"0": "background", "1": "gm", "2": "wm"}}}}}))
    torch.save(net.state_dict(), path / "models" / "model.pt")
    return path


MAKERS = {"torchscript": (_torchscript, "net.ts"), "onnx": (_onnx, "net.onnx"),
          "bundle": (_bundle, "bundle")}


@pytest.mark.parametrize("kind", list(MAKERS))
def test_each_kind_loads_and_predicts_as_the_network_does(kind, net, expected, tmp_path):
    make, fname = MAKERS[kind]
    path = make(net, tmp_path / fname)
    extra = {} if kind == "bundle" else {"classes": ["gm", "wm"]}  # a bundle names its own
    model = segment.load_model(path, device="cpu", spacing=2.0, patch=16, **extra)
    assert model.kind == kind and model.classes == ("gm", "wm")
    img, labels = expected
    assert np.array_equal(model.predict(img), labels)


def test_an_imported_model_is_stored_and_applied_as_a_job(project, net, tmp_path):
    psids = make_studies(project, 1, labels=False)
    rec = segment.import_model(project, "ext", _onnx(net, tmp_path / "net.onnx"), **SETTINGS)
    assert rec["status"] == "imported" and rec["kind"] == "onnx"
    assert segment.list_models(project).set_index("name").loc["ext", "kind"] == "onnx"
    run = segment.apply(project, "ext", psids)
    assert (run.states()["state"] == "d").all(), run.states()
    assert project.resolve(psids[0], "seg/ext/wm.nii.gz")


def test_a_file_its_library_cannot_read_is_refused_naming_it(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(SegmentError, match="broken.onnx.*onnxruntime cannot load it"):
        segment.load_model(bad, classes=["wm"])
    ts = tmp_path / "broken.ts"
    ts.write_bytes(b"nope")
    with pytest.raises(SegmentError, match="broken.ts.*not a TorchScript model"):
        segment.load_model(ts, classes=["wm"])


def test_a_model_brought_in_must_name_its_classes(net, tmp_path):
    path = _torchscript(net, tmp_path / "net.ts")
    with pytest.raises(SegmentError, match="name the model's output classes"):
        segment.load_model(path)
    keras = tmp_path / "net.h5"
    keras.write_bytes(b"")
    with pytest.raises(SegmentError, match="net.h5: cannot tell the model's kind"):
        segment.load_model(keras, classes=["wm"])

"""The training loop: what the batch worker runs for :func:`nora_lab.segment.train`.

:func:`fit` takes a plain dict (picklable, so it runs on any Dask worker: a thread of
the notebook's LocalCluster or a Slurm job on a GPU node) and writes into the model's
folder:

* ``log.jsonl`` — one JSON line per epoch: ``epoch, loss, dice_<class>…, seconds``;
* ``progress.json`` — ``{step, steps, epoch}``, replaced every few steps (the progress bar);
* ``checkpoint.pt`` — network, optimizer and epoch, after every epoch (``resume=True``
  continues from it);
* ``weights.pt`` — the network's weights at its best mean validation Dice.

Patches are sampled with MONAI's ``RandCropByPosNegLabeld`` (half centred on a label
voxel), augmented with random flips and intensity scale/shift; the loss is Dice + cross
entropy; validation runs sliding-window inference on the held-out studies.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nora_lab.errors import SegmentError
from nora_lab.segment._deps import need
from nora_lab.segment.config import ModelConfig
from nora_lab.segment.data import Case, Volume, load_case
from nora_lab.segment.inference import out_of_memory, sliding_window
from nora_lab.segment.network import (
    build_network,
    grid_shape,
    label_to_spacing,
    normalize,
    pick_device,
    to_spacing,
)

__all__ = ["fit", "prepare", "patch_sampler", "read_log", "LOG", "PROGRESS", "CHECKPOINT",
           "WEIGHTS"]

LOG, PROGRESS, CHECKPOINT, WEIGHTS = "log.jsonl", "progress.json", "checkpoint.pt", "weights.pt"


def prepare(vol: Volume, config: ModelConfig) -> dict[str, Any]:
    """A study as tensors at the model's spacing: ``{"image": (C,…), "label": (1,…)}``."""
    torch = need("torch")
    size = grid_shape(tuple(vol.image.shape[1:]), vol.zooms, config.spacing)
    image = to_spacing(torch.as_tensor(normalize(vol.image)), size)
    out = {"image": image}
    if vol.label is not None:
        out["label"] = label_to_spacing(vol.label, len(config.classes), size)
    return out


def patch_sampler(config: ModelConfig) -> Any:
    """MONAI's dictionary transforms that draw ``batch_size`` augmented patches of a study."""
    tr = need("monai.transforms")
    keys = ["image", "label"]
    t = tr.Compose([
        tr.SpatialPadd(keys, spatial_size=config.patch),
        tr.RandCropByPosNegLabeld(keys, label_key="label", spatial_size=config.patch, pos=1,
                                  neg=1, num_samples=config.batch_size),
        tr.RandFlipd(keys, prob=0.5, spatial_axis=0),
        tr.RandFlipd(keys, prob=0.5, spatial_axis=1),
        tr.RandFlipd(keys, prob=0.5, spatial_axis=2),
        tr.RandScaleIntensityd("image", factors=0.1, prob=0.5),
        tr.RandShiftIntensityd("image", offsets=0.1, prob=0.5),
    ])
    t.set_random_state(seed=config.seed)
    return t


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".nora-tmp-{os.getpid()}-{path.name}")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_log(folder: str | os.PathLike) -> list[dict[str, Any]]:
    """The epochs logged so far in a model's folder."""
    path = Path(folder) / LOG
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _dice_per_class(pred: Any, label: Any, n: int) -> list[float]:
    from nora_lab.reading._roi import dice

    p, lab = pred.numpy(), label.numpy()
    return [dice(p == k, lab == k) for k in range(1, n + 1)]


def _oom(config: ModelConfig, device: Any, exc: BaseException) -> SegmentError:
    px = "×".join(map(str, config.patch))
    smaller = "×".join(str(max(16, p // 2)) for p in config.patch)
    return SegmentError(
        f"out of memory on {device} training {config.batch_size} patches of {px} voxels at "
        f"{config.spacing} mm with channels {list(config.channels)}: lower batch_size "
        f"(e.g. {max(1, config.batch_size // 2)}) or patch (e.g. {smaller}), or use a "
        f"coarser spacing ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})")


def fit(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Train (or resume) a model; returns ``{"epochs", "best", "device", "seconds"}``.

    ``spec``: ``config`` (:meth:`ModelConfig.to_dict`), ``folder``, ``train`` and ``val``
    (lists of :class:`Case` as dicts), ``resume`` (bool), ``threads`` (CPU threads or None).
    """
    torch = need("torch")
    monai_losses = need("monai.losses")
    config = ModelConfig.from_dict(spec["config"])
    folder = Path(spec["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    device = pick_device(config.device)
    started = time.perf_counter()

    def cases(key: str) -> list[Case]:
        return [Case(c["psid"], tuple(map(Path, c["images"])), tuple(map(Path, c["labels"])))
                for c in spec[key]]

    train = [prepare(load_case(c, config), config) for c in cases("train")]
    val = [prepare(load_case(c, config), config) for c in cases("val")]
    net = build_network(config).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    loss_fn = monai_losses.DiceCELoss(to_onehot_y=True, softmax=True)
    sampler = patch_sampler(config)
    rng = np.random.default_rng(config.seed)
    first, best = 1, -1.0
    ckpt = folder / CHECKPOINT
    if spec.get("resume") and ckpt.is_file():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        first, best = int(state["epoch"]) + 1, float(state["best"])
        rng = np.random.default_rng(config.seed + first)
        sampler.set_random_state(seed=config.seed + first)
    else:
        for name in (LOG, PROGRESS, CHECKPOINT, WEIGHTS):
            (folder / name).unlink(missing_ok=True)
    steps = config.epochs * config.steps_per_epoch
    n = len(config.classes)
    try:
        for epoch in range(first, config.epochs + 1):
            t0, losses = time.perf_counter(), []
            net.train()
            for step in range(config.steps_per_epoch):
                patches = sampler(train[int(rng.integers(len(train)))])
                x = torch.stack([p["image"] for p in patches]).to(device)
                y = torch.stack([p["label"] for p in patches]).to(device)
                opt.zero_grad()
                loss = loss_fn(net(x), y)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                done = (epoch - 1) * config.steps_per_epoch + step + 1
                if step % 5 == 4 or step == config.steps_per_epoch - 1:
                    _write(folder / PROGRESS, json.dumps({"step": done, "steps": steps,
                                                          "epoch": epoch}))
            net.eval()
            scores = np.zeros(n)
            for v in val:
                prob = sliding_window(net, v["image"], config.patch, overlap=config.overlap,
                                      device=device)
                scores += _dice_per_class(prob.argmax(0, keepdim=True), v["label"], n)
            scores /= max(1, len(val))
            entry = {"epoch": epoch, "loss": float(np.mean(losses)),
                     **{f"dice_{c}": float(s) for c, s in zip(config.classes, scores,
                                                               strict=True)},
                     "seconds": round(time.perf_counter() - t0, 2)}
            mean = float(scores.mean()) if val else -float(entry["loss"])
            if mean > best:
                best = mean
                _save(torch, net.state_dict(), folder / WEIGHTS)
            _save(torch, {"net": net.state_dict(), "opt": opt.state_dict(), "epoch": epoch,
                          "best": best}, ckpt)
            with open(folder / LOG, "a") as fh:
                fh.write(json.dumps(entry) + "\n")
    except Exception as exc:
        if out_of_memory(exc):
            raise _oom(config, device, exc) from exc
        raise
    return {"epochs": config.epochs, "best": best, "device": str(device),
            "seconds": round(time.perf_counter() - started, 1)}


def _save(torch: Any, obj: Any, path: Path) -> None:
    tmp = path.with_name(f".nora-tmp-{os.getpid()}-{path.name}")
    torch.save(obj, tmp)
    os.replace(tmp, path)

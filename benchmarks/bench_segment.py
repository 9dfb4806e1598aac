"""Segmentation: training throughput and inference time, against a plain MONAI loop.

Ours is :func:`nora_lab.segment.training.fit` (what the training batch job runs) and
:meth:`nora_lab.segment.Model.predict`; the peer is the loop a MONAI user writes by hand
with the same network (a 3-D UNet), the same data (synthetic studies at 2 mm) and the
same patch sampling (``RandCropByPosNegLabeld`` + flips + intensity jitter), in the same
run, on the same device.

* training: patches per second over ``--steps`` optimizer steps (validation excluded:
  ours logs each epoch's time without it when there is no validation study);
* inference: seconds per 256³ volume at 1 mm (resampled to 2 mm, sliding windows of
  the patch size, probabilities back to 256³, argmax).

    python benchmarks/bench_segment.py [--steps 40] [--patch 48] [--batch 2] [--reps 3]

Prints ``BENCH segment_train_patches_per_s …`` and ``BENCH segment_infer_256_s …``.
Target: ratio ≤ 1.1 for both (throughput: peer/ours, so lower is better for both).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "segment"))
from segstudies import blob  # noqa: E402

from nora_lab.segment.config import ModelConfig  # noqa: E402
from nora_lab.segment.network import build_network, pick_device  # noqa: E402
from nora_lab.segment.training import fit, patch_sampler, prepare  # noqa: E402


def _cases(tmp: Path, n: int, shape: tuple[int, int, int]) -> list[dict]:
    out = []
    for i in range(n):
        img, gm, wm = blob(i, shape=shape)
        paths = [tmp / f"{i}_{k}.nii.gz" for k in ("t1", "gm", "wm")]
        for im, p in zip((img, gm, wm), paths, strict=True):
            nib.save(im, p)
        out.append({"psid": f"B{i}#S1", "images": [str(paths[0])],
                    "labels": [str(paths[1]), str(paths[2])]})
    return out


def bench_training(cfg: ModelConfig, cases: list[dict], tmp: Path) -> tuple[float, float]:
    """(ours, peer) patches per second."""
    spec = {"config": cfg.to_dict(), "folder": str(tmp / "model"), "train": cases, "val": []}
    fit(spec)
    log = [json.loads(line) for line in (tmp / "model" / "log.jsonl").read_text().splitlines()]
    ours = cfg.epochs * cfg.steps_per_epoch * cfg.batch_size / sum(e["seconds"] for e in log)

    # the peer: a plain MONAI loop, same network, data and patch sampling
    from monai.losses import DiceCELoss

    from nora_lab.segment.data import Case, load_case

    device = pick_device(cfg.device)
    data = [prepare(load_case(Case(c["psid"], tuple(map(Path, c["images"])),
                                   tuple(map(Path, c["labels"]))), cfg), cfg) for c in cases]
    net = build_network(cfg).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    sampler = patch_sampler(cfg)
    rng = np.random.default_rng(cfg.seed)
    net.train()
    start = time.perf_counter()
    for _ in range(cfg.epochs * cfg.steps_per_epoch):
        patches = sampler(data[int(rng.integers(len(data)))])
        x = torch.stack([p["image"] for p in patches]).to(device)
        y = torch.stack([p["label"] for p in patches]).to(device)
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
    peer = cfg.epochs * cfg.steps_per_epoch * cfg.batch_size / (time.perf_counter() - start)
    return ours, peer


def bench_inference(cfg: ModelConfig, reps: int) -> tuple[float, float]:
    """(ours, peer) seconds per 256³ volume."""
    from monai.inferers import sliding_window_inference

    from nora_lab.segment.model import Model

    device = pick_device(cfg.device)
    net = build_network(cfg).to(device).eval()
    img = blob(0, shape=(256, 256, 256), affine=np.eye(4))[0]
    model = Model("bench", "nora", cfg, net, device)
    model.predict(img)  # warm-up
    t0 = time.perf_counter()
    for _ in range(reps):
        model.predict(img)
    ours = (time.perf_counter() - t0) / reps

    data = np.asarray(img.dataobj, dtype=np.float32)
    t0 = time.perf_counter()
    for _ in range(reps):
        vals = data[data != 0]
        lo, hi = np.percentile(vals[:: max(1, vals.size // 200_000)], (1, 99))
        x = torch.as_tensor(((data - lo) / (hi - lo)).astype(np.float32))[None, None]
        x = torch.nn.functional.interpolate(x, size=(128, 128, 128), mode="trilinear")
        with torch.inference_mode():
            out = sliding_window_inference(x.to(device), cfg.patch, 2, net, overlap=cfg.overlap,
                                           mode="gaussian")
            prob = torch.softmax(out.float(), 1).cpu()
        prob = torch.nn.functional.interpolate(prob, size=(256, 256, 256), mode="trilinear")
        prob[0].argmax(0).numpy().astype(np.uint8)
    peer = (time.perf_counter() - t0) / reps
    return ours, peer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--patch", type=int, default=48)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    cfg = ModelConfig(images=("t1",), labels={"gm": "gm", "wm": "wm"}, spacing=2.0,
                      patch=args.patch, batch_size=args.batch, epochs=1,
                      steps_per_epoch=args.steps)
    with tempfile.TemporaryDirectory(prefix="bench-segment-") as d:
        tmp = Path(d)
        cases = _cases(tmp, 3, (80, 80, 80))
        ours, peer = bench_training(cfg, cases, tmp)
        print(f"training: ours {ours:.2f} patches/s, plain MONAI {peer:.2f} patches/s "
              f"({pick_device(cfg.device)}, patch {args.patch}³, batch {args.batch})")
        print(f"BENCH segment_train_patches_per_s {ours:.2f} patches/s ratio={peer / ours:.2f}")
        ours_s, peer_s = bench_inference(cfg, args.reps)
        print(f"inference 256³: ours {ours_s:.2f} s, plain MONAI {peer_s:.2f} s")
        print(f"BENCH segment_infer_256_s {ours_s:.2f} s ratio={ours_s / peer_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

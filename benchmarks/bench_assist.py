"""The ROI assistant's latency per interaction on a 256³ volume, measured from the kernel.

What is timed is :meth:`nora_lab.assist.Assistant.add_point` — click in, proposal out
(the overlay diff the viewer then gets is the proposal's box). The volume is the demo
brain (demo subject 1's T1, 1 mm) placed in a 256³ grid; the clicks are a user's three
clicks in the left lateral ventricle. The target is ≤ 300 ms per interaction.

The peer is the same algorithm without the crop: the cpu backend with a margin that
covers the whole volume (``margin_mm=512``), on the same clicks.

    python benchmarks/bench_assist.py        # prints BENCH lines
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nora_lab.assist import Assistant  # noqa: E402
from nora_lab.assist.evaluate import dice, spread_clicks  # noqa: E402
from tests.assist.conftest import load_demo_brain  # noqa: E402

SIZE = 256


def _volume() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    brain = load_demo_brain()
    t1 = np.zeros((SIZE,) * 3, brain.t1.dtype)
    vent = np.zeros((SIZE,) * 3, bool)
    off = [(SIZE - n) // 2 for n in brain.t1.shape]
    box = tuple(slice(o, o + n) for o, n in zip(off, brain.t1.shape, strict=True))
    t1[box], vent[box] = brain.t1, brain.ventricle
    affine = brain.affine.copy()
    affine[:3, 3] -= affine[:3, :3] @ off
    return t1, affine, vent


def _run(t1, affine, clicks, **settings) -> tuple[list[float], np.ndarray]:
    a = Assistant(t1, affine, backend="cpu", **settings)
    times = []
    for voxel in clicks:
        t0 = time.perf_counter()
        a.add_point(voxel)
        times.append(time.perf_counter() - t0)
    return times, a.mask()


def main() -> None:
    t1, affine, vent = _volume()
    clicks = spread_clicks(vent)
    _run(t1, affine, clicks[:1])  # warm-up: imports, caches
    ours, ours_mask = _run(t1, affine, clicks)
    peer, peer_mask = _run(t1, affine, clicks, margin_mm=512.0)
    o_ms, p_ms = 1000 * statistics.median(ours), 1000 * statistics.median(peer)
    print(f"# {SIZE}^3 volume, 3 clicks in the left lateral ventricle; per click (ms): "
          f"crop {[round(1000 * t) for t in ours]}, full volume {[round(1000 * t) for t in peer]}")
    print(f"# Dice with the crop {dice(ours_mask, vent):.3f}, on the full volume "
          f"{dice(peer_mask, vent):.3f}")
    print(f"BENCH assist_click_latency {o_ms:.0f} ms ratio={o_ms / p_ms:.3f}")
    print(f"BENCH assist_click_latency_max {1000 * max(ours):.0f} ms "
          f"ratio={max(ours) / max(peer):.3f}")


if __name__ == "__main__":
    main()

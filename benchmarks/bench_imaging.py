"""Benchmarks of nora_lab.imaging on a 256³ volume, each against the obvious numpy/scipy peer.

Run: ``python benchmarks/bench_imaging.py``. Prints per item
``BENCH <name> <value> <unit> ratio=<ours/peer>`` and checks that ours and the peer agree.

- region_grow_3d: one seed, region of ~65k voxels (``_large``: the ~4M-voxel 'brain');
  peer: threshold the whole volume, ``scipy.ndimage.label`` it, take the seed's component.
- magic_pen_stroke: one magic-pen application of radius 10 mm (mean over a 20-point
  stroke, history recorded); peer: the same pen computed as full-volume masks.
- roi_stats_5x3: 5 ROIs × 3 contrasts on three different grids; peer: resample each
  contrast onto the ROI grid per pair (``affine_transform``, trilinear) + numpy stats.
- visitation_100k: visitation map of 100,000 streamlines; peer: ``np.unique`` of
  (streamline, voxel) pairs + ``np.add.at``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.streamlines import ArraySequence
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nora_lab.imaging import (  # noqa: E402
    ROI,
    magic_pen,
    region_grow,
    roi_statistics,
    rotation,
    visitation_map,
)

N = 256
RNG = np.random.default_rng(42)


def timed(fn, repeat=3):
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def report(name, ours, peer, unit="ms"):
    scale = 1000.0 if unit == "ms" else 1.0
    print(f"BENCH {name} {ours * scale:.1f} {unit} ratio={ours / peer:.4f}", flush=True)


def phantom():
    """A head-like phantom: ellipsoid 'brain' (~100) with a 'ventricle' (~30), noise ±3."""
    idx = np.ogrid[:N, :N, :N]
    c = (N - 1) / 2
    brain = ((idx[0] - c) / 100) ** 2 + ((idx[1] - c) / 110) ** 2 + ((idx[2] - c) / 90) ** 2 <= 1
    vent = (idx[0] - 110) ** 2 + (idx[1] - 140) ** 2 + (idx[2] - 128) ** 2 <= 25**2
    data = np.where(brain, 100, 0).astype(np.float32)
    data[vent] = 30
    data += RNG.uniform(-3, 3, data.shape).astype(np.float32)
    return data


def bench_region_grow(data, name="region_grow_3d", seed=(110, 140, 128)):
    window, sim = (0, 200), 0.05
    roi = ROI(np.zeros(data.shape, bool), np.eye(4))

    def ours():
        roi.data[:] = False
        roi.history.clear()
        return region_grow(roi, seed, data, window, sim)

    def peer():
        tol = sim * (window[1] - window[0])
        lab, _ = ndi.label(np.abs(data - data[seed]) <= tol)
        return lab == lab[seed]

    t_ours, _ = timed(ours)
    t_peer, ref = timed(peer, 2)
    assert np.array_equal(roi.data, ref), "region growing disagrees with the label baseline"
    report(name, t_ours, t_peer)


def bench_magic_pen(data):
    window, sim, r = (0, 200), 0.1, 10.0
    path = [(80 + 4 * k, 140, 128) for k in range(20)]  # crosses the ventricle border
    roi = ROI(np.zeros(data.shape, bool), np.eye(4))

    def ours():
        roi.data[:] = False
        roi.history.clear()
        for c in path:
            magic_pen(roi, c, r, data, window, similarity=sim)

    grid = np.ogrid[:N, :N, :N]

    def peer():
        out = np.zeros(data.shape, bool)
        for c in path:
            ball = (grid[0] - c[0]) ** 2 + (grid[1] - c[1]) ** 2 + (grid[2] - c[2]) ** 2 <= r**2
            out |= ball & (np.abs(data - data[c]) <= sim * (window[1] - window[0]))
        return out

    t_ours, _ = timed(ours)
    t_peer, ref = timed(peer, 1)
    assert np.array_equal(roi.data, ref), "magic pen disagrees with the full-volume computation"
    report("magic_pen_stroke", t_ours / len(path), t_peer / len(path))


def bench_stats(data):
    rois = []
    for k, (c, r) in enumerate([((128, 128, 128), 40), ((110, 140, 128), 25), ((160, 100, 90), 15),
                                ((90, 160, 170), 30), ((140, 120, 60), 10)]):
        roi = ROI(np.zeros(data.shape, bool), np.eye(4), name=f"roi{k}")
        g = np.ogrid[c[0] - r:c[0] + r + 1, c[1] - r:c[1] + r + 1, c[2] - r:c[2] + r + 1]
        roi.data[c[0] - r:c[0] + r + 1, c[1] - r:c[1] + r + 1, c[2] - r:c[2] + r + 1] = (
            (g[0] - c[0]) ** 2 + (g[1] - c[1]) ** 2 + (g[2] - c[2]) ** 2 <= r * r)
        rois.append(roi)
    same = nib.Nifti1Image(data, np.eye(4))
    half_aff = np.diag([2.0, 2.0, 2.0, 1.0])
    half_aff[:3, 3] = [0.5, 0.5, 0.5]
    half = nib.Nifti1Image(data[::2, ::2, ::2].copy(), half_aff)
    obl_aff = rotation([0, 0, 10], centre=[128, 128, 128]) @ np.diag([1.2, 1.2, 1.2, 1.0])
    obl = nib.Nifti1Image(data[:210, :210, :210].copy(), obl_aff)
    contrasts = {"same": same, "half": half, "oblique": obl}

    def ours():
        return roi_statistics(rois, contrasts)

    def peer():
        rows = []
        for roi in rois:
            for name, img in contrasts.items():
                m = np.linalg.inv(img.affine) @ roi.affine
                if np.allclose(m, np.eye(4)):
                    res = np.asarray(img.dataobj)
                else:
                    res = ndi.affine_transform(np.asarray(img.dataobj), m[:3, :3], m[:3, 3],
                                               output_shape=roi.shape,
                                               order=1, mode="constant", cval=np.nan)
                v = res[roi.data]
                v = v[~np.isnan(v)]
                q1, med, q3 = np.percentile(v, [25, 50, 75])
                rows.append((roi.name, name, v.mean(), v.std(ddof=1), med, q1, q3))
        return rows

    t_ours, df = timed(ours)
    t_peer, ref = timed(peer, 1)
    for (r, c, mean, std, med, q1, q3), (_, row) in zip(ref, df.iterrows(), strict=True):
        assert (row.roi, row.contrast) == (r, c)
        got = [row["mean"], row["std"], row["median"], row.iqr1, row.iqr2]
        assert np.allclose(got, [mean, std, med, q1, q3], rtol=1e-3, atol=0.05), (r, c, got)
    report("roi_stats_5x3", t_ours, t_peer)


def streamlines(n=100_000):
    lengths = RNG.integers(20, 100, n)
    lmax = int(lengths.max())
    start = RNG.uniform(60, 196, (n, 3)).astype(np.float32)
    d = RNG.normal(size=(n, 3)).astype(np.float32)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    k = np.arange(lmax, dtype=np.float32)
    bend = RNG.normal(0, 3, (n, 1, 3)).astype(np.float32)
    pts = start[:, None] + d[:, None] * k[None, :, None] + bend * np.sin(k / 15)[None, :, None]
    keep = k[None, :] < lengths[:, None]
    seq = ArraySequence()
    seq._data = np.clip(pts[keep], 0, N - 1)
    seq._lengths = lengths.astype(np.int64)
    seq._offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return seq


def bench_visitation():
    seq = streamlines()
    ref_grid = (N, N, N)
    ref = nib.Nifti1Image(np.zeros(ref_grid, np.uint8), np.eye(4))

    def ours():
        return np.asarray(visitation_map(seq, ref, step=np.inf).dataobj)  # the points as they are

    def peer():
        pts = seq._data
        sid = np.repeat(np.arange(len(seq)), seq._lengths)
        ijk = np.rint(pts).astype(np.int64)
        lin = np.ravel_multi_index(tuple(ijk.T), ref_grid)
        pairs = np.unique(sid * (N**3) + lin)
        out = np.zeros(N**3, np.int32)
        np.add.at(out, pairs % (N**3), 1)
        return out.reshape(ref_grid)

    t_ours, vis = timed(ours, 2)
    t_peer, expected = timed(peer, 1)
    assert np.array_equal(vis,
                          expected), "visitation map disagrees with the np.unique/np.add.at count"
    report("visitation_100k", t_ours, t_peer)


def main() -> None:
    data = phantom()
    bench_region_grow(data)
    bench_region_grow(data, "region_grow_3d_large", seed=(200, 128, 128))  # the whole 'brain'
    bench_magic_pen(data)
    bench_stats(data)
    bench_visitation()


if __name__ == "__main__":
    main()

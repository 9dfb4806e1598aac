"""The CPU backend's algorithm: an intensity model learned from the marks, adapted to the
neighbourhood, grown from the positive marks and cut by the negative ones.

1. **Crop.** Only a box around the marks (``margin_mm`` on each side) is read. When the
   object reaches a side of the box that is not the image's edge, the box grows on that
   side and the step repeats, so a small structure costs a small crop and a large one
   (the white matter) still comes out whole.
2. **Intensity model.** A Gaussian mixture (scikit-learn, 2–``max_classes`` classes
   chosen by BIC) of the smoothed intensities around the marks; the classes holding most
   positive samples make an intensity interval, its ends where the mixture's posterior
   changes class. Negative marks remove the classes they sit in.
3. **Neighbourhood adaptation.** MR intensity drifts across the head (bias field); each
   end of the interval becomes a map: halfway between the local mean of the object's
   class and that of the class beyond the end (Gaussian-weighted over ``adapt_mm``,
   computed on a coarser grid), the marks weighing in where they are.
4. **Growing and cutting.** The voxels inside the interval, opened by one voxel to break
   thin bridges, are kept where connected to a positive mark; a negative mark inside the
   result is separated from the positive ones by a random walker (scikit-image) over the
   result only. Box and lasso interactions keep their slice inside the outline.

Works on any modality whose object differs in intensity from its surroundings (CT in
HU, MR in any scale): nothing is tuned to one.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from nora_lab.errors import AssistError

from .interactions import Box, Interaction, Lasso, Point, Scribble, slice_mask

__all__ = ["Marks", "Params", "marks_of", "segment"]

_BALL = ndimage.generate_binary_structure(3, 1)


@dataclass(frozen=True)
class Params:
    """Settings of the classical algorithm (the ``cpu`` section of ``assist.yaml``)."""

    margin_mm: float = 20.0
    smoothing_mm: float = 0.8
    max_classes: int = 5
    join_spread: float = 2.5
    mark_spread: float = 3.0
    adapt_mm: float = 20.0
    mark_weight: float = 20.0
    samples: int = 6000
    max_grow: int = 6


@dataclass
class Marks:
    """The interactions as voxels: positive and negative seeds, and slice outlines."""

    pos: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))
    neg: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))
    #: positive seeds inside positive boxes / lassos (replaced by image-informed ones)
    hint: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))
    #: (axis, index, 2-D mask, positive) of each box / lasso
    outlines: list[tuple[int, int, np.ndarray, bool]] = field(default_factory=list)

    def box(self, shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Lowest and highest voxel any mark touches."""
        pts = [self.pos, self.neg, self.hint]
        for axis, index, mask, _ in self.outlines:
            uv = np.argwhere(mask)
            pts.append(np.insert(uv, axis, index, axis=1))
        allp = np.concatenate(pts)
        return allp.min(axis=0), allp.max(axis=0)


def marks_of(interactions: Sequence[Interaction], shape: Sequence[int]) -> Marks:
    """Seeds and outlines of ``interactions`` on an image of ``shape``.

    Raises
    ------
    AssistError
        If an interaction lies outside the image.
    """
    pos: list[np.ndarray] = []
    neg: list[np.ndarray] = []
    hint: list[np.ndarray] = []
    outlines = []
    for it in interactions:
        vox = it.voxels
        if np.any(vox < 0) or np.any(vox >= np.asarray(shape)):
            raise AssistError(f"{type(it).__name__.lower()} at voxel(s) {vox.min(0).tolist()}–"
                              f"{vox.max(0).tolist()} lies outside the image of shape "
                              f"{tuple(shape)}")
        if isinstance(it, (Point, Scribble)):
            (pos if it.positive else neg).append(vox)
        elif isinstance(it, (Box, Lasso)):
            axis, index, mask = slice_mask(it, tuple(shape))
            outlines.append((axis, index, mask, it.positive))
            inner = ndimage.binary_erosion(mask, iterations=max(1, min(mask.shape) // 6))
            core = np.argwhere(inner if inner.any() else mask)
            seeds = np.insert(core, axis, index, axis=1)
            (hint if it.positive else neg).append(_thin(seeds, 400))
        else:  # pragma: no cover - the session checks the type
            raise AssistError(f"unknown interaction {it!r}")
    cat = lambda a: np.concatenate(a) if a else np.zeros((0, 3), np.int64)  # noqa: E731
    return Marks(cat(pos), cat(neg), cat(hint), outlines)


def _thin(points: np.ndarray, n: int) -> np.ndarray:
    return points if len(points) <= n else points[np.linspace(0, len(points) - 1, n).astype(int)]


def _outline_seeds(image: np.ndarray, sigma: np.ndarray, axis: int, index: int,
                   mask: np.ndarray) -> np.ndarray:
    """Seeds for a positive box or lasso: its voxels whose intensity is common inside the
    outline and rare in a 3-voxel ring around it (the object fills the outline, its
    surroundings do not), the largest such patch."""
    sl: list[Any] = [slice(None)] * 3
    sl[axis] = index
    plane = ndimage.gaussian_filter(np.asarray(image[tuple(sl)], np.float32),
                                    np.delete(sigma, axis))
    ring = ndimage.binary_dilation(mask, iterations=3) & ~mask
    inside, outside = plane[mask], plane[ring]
    if not outside.size or not inside.size:
        return np.zeros((0, 3), np.int64)
    edges = np.histogram_bin_edges(np.r_[inside, outside], bins=32)
    h_in = np.histogram(inside, edges)[0] / inside.size
    h_out = np.histogram(outside, edges)[0] / outside.size
    ratio = (h_in + 1e-3) / (h_out + 1e-3)
    score = np.where(mask, ratio[np.clip(np.digitize(plane, edges) - 1, 0, 31)], 0.0)
    good = mask & (score >= max(2.0, float(np.percentile(score[mask], 70))))
    labels, n = ndimage.label(good)
    if not n:
        return np.zeros((0, 3), np.int64)
    largest = 1 + int(np.argmax(ndimage.sum_labels(good, labels, range(1, n + 1))))
    seeds = np.insert(np.argwhere(labels == largest), axis, index, axis=1)
    return _thin(seeds, 400)


def _samples(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Values in the 3×3×3 neighbourhood of each point (clipped to the image)."""
    if not len(pts):
        return np.zeros(0, img.dtype)
    offs = np.argwhere(np.ones((3, 3, 3), bool)) - 1
    around = (pts[:, None, :] + offs[None]).reshape(-1, 3)
    around = np.clip(around, 0, np.asarray(img.shape) - 1)
    return img[tuple(around.T)]


# ------------------------------------------------------------------ intensity model

def _mixture(x: np.ndarray, params: Params):  # -> sklearn GaussianMixture
    """A 1-D Gaussian mixture of ``x`` with 2–``max_classes`` classes, chosen by BIC."""
    from sklearn.mixture import GaussianMixture

    col = x.reshape(-1, 1).astype(np.float64)
    spread = float(np.std(col)) or 1.0
    best = None
    for k in range(2, max(2, params.max_classes) + 1):
        gmm = GaussianMixture(k, random_state=0, reg_covar=1e-4 * spread**2,
                              init_params="k-means++", max_iter=60).fit(col)
        bic = gmm.bic(col)
        if best is None or bic < best[0]:
            best = (bic, gmm)
    assert best is not None
    return best[1]


@dataclass(frozen=True)
class Interval:
    """The object's intensities: (``low``, ``high``); ``width`` a class's spread; whether
    each end lies between two classes (and so adapts to the neighbourhood)."""

    low: float
    high: float
    width: float
    adapt_low: bool
    adapt_high: bool


def _interval(sample: np.ndarray, pos: np.ndarray, neg: np.ndarray, params: Params
              ) -> Interval:
    """The intensity interval of the object's tissue classes.

    The classes of a Gaussian mixture of ``sample`` that hold the positive marks (and
    any between them), joined by neighbouring classes closer than ``join_spread`` spreads (one
    tissue the mixture split), without the classes of the negative marks; its ends lie
    where the mixture's most probable class changes — but when the object's class is a
    wide one (partial volumes mixed in), no further from the marks than ``mark_spread``
    typical class spreads.
    """
    gmm = _mixture(sample, params)
    mu = gmm.means_.ravel()
    sd = np.sqrt(gmm.covariances_.ravel())
    order = np.argsort(mu)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    predict = lambda v: gmm.predict(np.asarray(v, np.float64).reshape(-1, 1))  # noqa: E731
    groups = pos.reshape(-1, 27) if pos.size % 27 == 0 else pos.reshape(-1, 1)
    centres = np.median(groups, axis=1)
    if len(centres) > 10:  # many seeds (a scribble, a box): their bulk, not their extremes
        centres = np.clip(centres, *np.percentile(centres, [25, 75]))
    ranks = rank[predict(centres)]
    inside = set(range(int(ranks.min()), int(ranks.max()) + 1))  # in mean order
    negative: set[int] = set()
    if len(neg):
        ngroups = neg.reshape(-1, 27) if neg.size % 27 == 0 else neg.reshape(-1, 1)
        negative = set(rank[predict(np.median(ngroups, axis=1))].tolist()) - set(ranks.tolist())
        inside -= negative
    for step in (-1, 1):  # join classes the mixture split off the object's tissue
        edge = min(inside) if step < 0 else max(inside)
        while 0 <= edge + step < len(mu) and edge + step not in negative:
            a, b = order[edge], order[edge + step]
            if abs(mu[b] - mu[a]) >= params.join_spread * min(sd[a], sd[b]):
                break
            edge += step
            inside.add(edge)
    x = sample.astype(np.float64)
    grid = np.linspace(min(x.min(), centres.min()), max(x.max(), centres.max()), 2048)
    cls = np.isin(rank[predict(grid)], list(inside))
    ends = np.clip(np.searchsorted(grid, [centres.min(), centres.max()]), 0, len(grid) - 1)
    cls[ends[0]:ends[1] + 1] = True  # the marks' own range is the object's
    a = int(ends[0])
    while a > 0 and cls[a - 1]:
        a -= 1
    b = int(ends[1])
    while b < len(grid) - 1 and cls[b + 1]:
        b += 1
    low = -np.inf if a == 0 else float(grid[a])
    high = np.inf if b == len(grid) - 1 else float(grid[b])
    own = float(np.median(sd))
    wide = float(sd[order[sorted(inside)]].max()) > 2.0 * own  # a class of partial volumes
    reach = params.mark_spread * own if wide else np.inf
    cap_low = float(centres.min()) - reach
    cap_high = float(centres.max()) + reach
    # a capped end stays where it is; an end between two classes adapts (see _adapt)
    # the band beyond an end that holds the next class: up to its mean and a spread more
    lo_r, hi_r = min(inside), max(inside)
    width = 2.0 * float(sd[order[sorted(inside)]].max())
    for r, end in ((lo_r - 1, low), (hi_r + 1, high)):
        if 0 <= r < len(mu) and np.isfinite(end):
            width = max(width, abs(end - float(mu[order[r]])) + float(sd[order[r]]))
    return Interval(max(low, cap_low), min(high, cap_high), width,
                    low > cap_low, high < cap_high)


def _adapt(sub: np.ndarray, interval: Interval, sigma_vox: np.ndarray,
           pos: np.ndarray, neg: np.ndarray, params: Params, iterations: int = 2
           ) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Each finite end of [low, high] as a map halfway between the local means of the
    object's class and of the class beyond that end; marks count ``mark_weight`` times.

    Computed on a grid up to 4 times coarser (the maps are smooth), then zoomed back.
    """
    low, high, width = interval.low, interval.high, interval.width
    if not (interval.adapt_low or interval.adapt_high):
        return low, high
    f = int(max(1, min(4, min(sub.shape) // 16)))
    coarse = sub[::f, ::f, ::f]
    sig = sigma_vox / f

    def local_mean(member: np.ndarray, marks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = member.astype(np.float32)
        v = np.where(member, coarse, 0).astype(np.float32)
        if len(marks):
            idx = tuple(np.clip(marks // f, 0, np.asarray(coarse.shape) - 1).T)
            np.add.at(w, idx, params.mark_weight)
            np.add.at(v, idx, params.mark_weight * coarse[idx])
        ws = ndimage.gaussian_filter(w, sig, mode="nearest")
        vs = ndimage.gaussian_filter(v, sig, mode="nearest")
        return ws, vs / np.maximum(ws, 1e-6)

    lows: np.ndarray | float = low
    highs: np.ndarray | float = high
    for _ in range(iterations):
        inside = (coarse > lows) & (coarse < highs)
        wi, mi = local_mean(inside, pos)
        ends = []
        for end, flat, adapt, beyond in (
                (lows, low, interval.adapt_low, (coarse <= lows) & (coarse > lows - width)),
                (highs, high, interval.adapt_high, (coarse >= highs) & (coarse < highs + width))):
            if not adapt:
                ends.append(end)
                continue
            wo, mo = local_mean(beyond, neg)
            ok = (wi > 0.02) & (wo > 0.02)
            ends.append(np.where(ok, (mi + mo) / 2.0, flat).astype(np.float32))
        lows, highs = ends

    def full(end: np.ndarray | float) -> np.ndarray | float:
        if f == 1 or np.ndim(end) == 0:
            return end
        zoom = [a / b for a, b in zip(sub.shape, coarse.shape, strict=True)]
        out = ndimage.zoom(end, zoom, order=1, mode="nearest", grid_mode=True)
        return out[: sub.shape[0], : sub.shape[1], : sub.shape[2]]

    return full(lows), full(highs)


# ------------------------------------------------------------------ growing and cutting

def _touching(region: np.ndarray) -> list[tuple[int, int]]:
    """(axis, side) of the crop faces the region touches (side 0 low, 1 high)."""
    out = []
    for ax in range(3):
        for side, edge in ((0, 0), (1, -1)):
            if np.take(region, edge, axis=ax).any():
                out.append((ax, side))
    return out


def _cut(region: np.ndarray, pos: np.ndarray, neg: np.ndarray, sub: np.ndarray,
         width: float, margin: np.ndarray) -> np.ndarray:
    """``region`` without the part that belongs with a negative mark inside it.

    Around each such mark a random walker (scikit-image) runs over the region's voxels
    in a box of ``margin`` voxels: the mark against the positive marks there and the
    region's voxels on the box's faces (the object goes on beyond them).
    """
    from skimage.segmentation import random_walker

    inside_neg = neg[region[tuple(neg.T)]] if len(neg) else neg
    if not len(inside_neg):
        return region
    out = region.copy()
    shape = np.asarray(region.shape)
    for mark in inside_neg:
        lo, hi = np.maximum(mark - margin, 0), np.minimum(mark + margin + 1, shape)
        box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
        labels = np.where(out[box], 0, -1).astype(np.int32)
        faces = np.zeros(labels.shape, bool)
        for ax in range(3):
            for edge, at in ((0, lo[ax] > 0), (-1, hi[ax] < shape[ax])):
                if at:
                    idx = [slice(None)] * 3
                    idx[ax] = edge  # type: ignore[call-overload]
                    faces[tuple(idx)] = True
        local = pos - lo
        local = local[np.all((local >= 0) & (local < labels.shape), axis=1)]
        labels[(labels == 0) & faces] = 1
        labels[tuple(local.T)] = np.where(labels[tuple(local.T)] >= 0, 1, -1)
        labels[tuple(mark - lo)] = 2
        parts, _ = ndimage.label(labels >= 0, _BALL)
        seeded = np.unique(parts[labels > 0])
        labels[(labels == 0) & ~np.isin(parts, seeded[seeded > 0])] = -1  # unseeded: as is
        if not (labels == 1).any():  # nothing of the object here but the mark's part
            out[box] &= parts != parts[tuple(mark - lo)]
            continue
        data = (sub[box] / max(width, 1e-6)).astype(np.float64)
        with warnings.catch_warnings():  # its note on probabilities a little outside [0, 1]
            warnings.simplefilter("ignore", UserWarning)
            walked = random_walker(data, labels, beta=10, mode="cg_j", tol=1e-3)
        out[box] &= walked != 2
    return out


def _bbox(mask: np.ndarray) -> tuple[slice, slice, slice]:
    idx = np.argwhere(mask)
    lo, hi = idx.min(axis=0), idx.max(axis=0) + 1
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))  # type: ignore[return-value]


def _connected(fg: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Voxels of ``fg`` connected to a positive seed; one-voxel bridges broken first
    (the opening runs only in the box of the seeds' components)."""
    pos_in = pos[fg[tuple(pos.T)]] if len(pos) else pos
    out = np.zeros_like(fg)
    if not len(pos_in):
        return out
    labels, _ = ndimage.label(fg, _BALL)
    reach = np.isin(labels, np.unique(labels[tuple(pos_in.T)]))
    lo = np.maximum(np.argwhere(reach).min(axis=0) - 1, 0)
    hi = np.argwhere(reach).max(axis=0) + 2
    box = tuple(slice(int(x), int(y)) for x, y in zip(lo, hi, strict=True))
    part = reach[box]
    core = ndimage.binary_opening(part, _BALL)
    local = pos_in - lo
    core[tuple(local.T)] = True  # a mark on a thin part keeps its part
    parts, _ = ndimage.label(core, _BALL)
    keep = np.unique(parts[tuple(local.T)])
    out[box] = ndimage.binary_dilation(np.isin(parts, keep[keep > 0]), _BALL) & part
    return out


def _model(image: np.ndarray, lo: np.ndarray, hi: np.ndarray, sigma: np.ndarray,
           marks: Marks, params: Params) -> Interval:
    """The intensity interval learned in the box ``lo``–``hi`` (clipped to the image)."""
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, image.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    context = ndimage.gaussian_filter(np.asarray(image[box], dtype=np.float32), sigma)
    rng = np.random.default_rng(0)
    flat = context.ravel()
    sample = flat[rng.integers(0, flat.size, min(flat.size, params.samples))]
    return _interval(sample, _samples(context, marks.pos - lo), _samples(context, marks.neg - lo),
                     params)


def segment(image: np.ndarray, spacing: Sequence[float], marks: Marks,
            params: Params = Params()) -> tuple[tuple[slice, slice, slice], np.ndarray]:
    """The object the marks point at: ``(bbox, mask inside bbox)`` on ``image``'s grid.

    Raises
    ------
    AssistError
        Without any positive mark (a point, scribble, box or lasso that says "this").
    """
    if len(marks.hint):  # boxes and lassos: seeds where the outline's intensity is its own
        found = [_outline_seeds(image, params.smoothing_mm / np.asarray(spacing, float), a, i, m)
                 for a, i, m, positive in marks.outlines if positive]
        found = [f for f in found if len(f)]
        marks = Marks(np.concatenate([marks.pos, *(found or [marks.hint])]), marks.neg,
                      np.zeros((0, 3), np.int64), marks.outlines)
    if not len(marks.pos):
        raise AssistError("the assistant needs a positive interaction first (a click, "
                          "scribble, box or lasso on the object)")
    shape = np.asarray(image.shape)
    spacing_arr = np.asarray(spacing, dtype=float)
    margin = np.maximum(np.rint(params.margin_mm / spacing_arr).astype(int), 4)
    lo_m, hi_m = marks.box(image.shape)
    lo = np.maximum(lo_m - margin, 0)
    hi = np.minimum(hi_m + margin + 1, shape)
    sigma = params.smoothing_mm / spacing_arr
    model = None
    for attempt in range(params.max_grow + 1):
        crop = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
        raw = np.asarray(image[crop], dtype=np.float32)
        sub = ndimage.gaussian_filter(raw, sigma) if np.any(sigma > 0) else raw
        pos, neg = marks.pos - lo, marks.neg - lo
        if model is None:  # learned once, around the marks with twice the margin
            model = _model(image, lo_m - 2 * margin, hi_m + 2 * margin + 1, sigma, marks,
                           params)
        lows, highs = _adapt(sub, model, params.adapt_mm / spacing_arr, pos, neg, params)
        fg = (sub > lows) & (sub < highs)
        fg[tuple(pos.T)] = True
        for axis, index, mask, positive in marks.outlines:
            if lo[axis] <= index < hi[axis]:
                plane = [slice(None)] * 3
                plane[axis] = index - lo[axis]
                inplane = [s for i, s in enumerate(crop) if i != axis]
                here = mask[inplane[0], inplane[1]]
                fg[tuple(plane)] &= here if positive else ~here
        region = _connected(fg, pos, neg)
        region = _connected(_cut(region, pos, neg, sub, model.width, margin), pos, neg)
        grow = [(ax, side) for ax, side in _touching(region)
                if (side == 0 and lo[ax] > 0) or (side == 1 and hi[ax] < shape[ax])]
        if not grow or attempt == params.max_grow:
            return crop, region  # type: ignore[return-value]
        for ax, side in grow:
            step = 2 * max(margin[ax], (hi[ax] - lo[ax]) // 2)
            if side == 0:
                lo[ax] = max(0, lo[ax] - step)
            else:
                hi[ax] = min(shape[ax], hi[ax] + step)
    raise AssertionError("unreachable")  # pragma: no cover

"""Rater agreement on reading results: per question, between and within readers.

Between readers: Cohen's kappa (two readers; weighted for ordinal items), Fleiss' kappa,
Krippendorff's alpha (nominal / ordinal / interval, missing answers allowed), the
intraclass correlation (ICC) for numeric answers, and the share of cases with identical
answers. Within a reader: the same across repetitions (:func:`intra_rater`). Against a
reference reader or a ground-truth study tag: :func:`accuracy`. Between readers' ROIs:
:func:`dice` and :func:`hausdorff` (mm), :func:`roi_agreement` over a whole reading.

Computation is left to well-kept libraries: statsmodels (Cohen's and Fleiss' kappa),
krippendorff (alpha) and pingouin (ICC); this module only shapes the tables.

>>> import pandas as pd
>>> m = pd.DataFrame({"ann": ["y", "n", "y", "y"], "bob": ["y", "n", "n", "y"]})
>>> round(cohen_kappa(m["ann"], m["bob"]), 3)
0.5
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from nora_lab.errors import ConfigError

from ._deps import need
from ._roi import dice, hausdorff, roi_agreement
from .forms import Form

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.archive.project import Project

__all__ = [
    "ratings", "percent_agreement", "cohen_kappa", "fleiss_kappa", "krippendorff_alpha",
    "icc", "intra_rater", "accuracy", "stage_effect", "reference_from_reader",
    "reference_from_tags",
    "dice", "hausdorff", "roi_agreement", "agreement", "plot_agreement",
]


def _hashable(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return "|".join(map(str, v))
    return v


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


# --- shaping --------------------------------------------------------------------------

def ratings(results: pd.DataFrame, question: str, *, mode: str | None = "serious",
            stage: int | None = 0, repetition: int | None = 0,
            by: str = "reader") -> pd.DataFrame:
    """A cases × raters table of one question's answers (None where not answered).

    ``by="repetition"`` gives a cases × repetitions table (for one reader's results).
    Checkbox answers (lists) become one category each (``"a|b"``).
    """
    col = f"answer.{question}"
    if col not in results:
        raise ConfigError(f"no answers to {question!r} in these results "
                          f"(questions: {[c[7:] for c in results if c.startswith('answer.')]})")
    df = results
    if mode is not None:
        df = df[df["mode"] == mode]
    if stage is not None:
        df = df[df["stage"] == stage]
    if repetition is not None and by != "repetition":
        df = df[df["repetition"] == repetition]
    vals = df[col].map(_hashable)
    wide = (pd.DataFrame({"psid": df["psid"], by: df[by], "v": vals})
            .pivot_table(index="psid", columns=by, values="v", aggfunc="first", dropna=False))
    wide.columns.name = by
    return wide.astype(object).where(wide.notna(), None)


def _complete(m: pd.DataFrame) -> pd.DataFrame:
    return m[[not any(_missing(v) for v in row) for row in m.itertuples(index=False)]]


def _codes(m: pd.DataFrame, categories: Sequence[Any] | None = None) -> tuple[np.ndarray, list]:
    """Integer codes (nan = missing) of a ratings table, and the categories."""
    vals = [v for v in m.to_numpy().ravel() if not _missing(v)]
    cats = list(categories) if categories is not None else sorted(set(vals),
                                                                  key=lambda x: (str(type(x)), x))
    index = {c: i for i, c in enumerate(cats)}
    codes = np.array([[np.nan if _missing(v) else index[v] for v in row]
                      for row in m.to_numpy()], dtype=float)
    return codes, cats


# --- between readers ------------------------------------------------------------------

def percent_agreement(m: pd.DataFrame) -> float:
    """Share of cases (answered by every rater) on which all raters gave the same answer."""
    c = _complete(m)
    if c.empty:
        return float("nan")
    return float(np.mean([len(set(row)) == 1 for row in c.itertuples(index=False)]))


def cohen_kappa(a: Sequence[Any], b: Sequence[Any], *, weights: str | None = None,
                categories: Sequence[Any] | None = None) -> float:
    """Cohen's kappa of two raters (statsmodels); ``weights`` "linear"/"quadratic" for ordinal.

    Cases either rater left unanswered are dropped. ``categories`` fixes the order of an
    ordinal scale (default: sorted values).
    """
    cohens_kappa = need("statsmodels.stats.inter_rater").cohens_kappa

    m = _complete(pd.DataFrame({"a": list(a), "b": list(b)}, dtype=object))
    if m.empty:
        return float("nan")
    codes, cats = _codes(m, categories)
    k = len(cats)
    table = np.zeros((k, k))
    for i, j in codes.astype(int):
        table[i, j] += 1
    if k == 1:
        return 1.0
    wt = {None: None, "linear": "linear", "quadratic": "quadratic"}[weights]
    return float(cohens_kappa(table, wt=wt, return_results=False) if wt
                 else cohens_kappa(table, return_results=False))


def fleiss_kappa(m: pd.DataFrame) -> float:
    """Fleiss' kappa of a cases × raters table (statsmodels); incomplete cases dropped."""
    inter_rater = need("statsmodels.stats.inter_rater")

    c = _complete(m)
    if c.empty or c.shape[1] < 2:
        return float("nan")
    codes, cats = _codes(c)
    if len(cats) == 1:
        return 1.0
    table, _ = inter_rater.aggregate_raters(codes.astype(int), n_cat=len(cats))
    return float(inter_rater.fleiss_kappa(table, method="fleiss"))


def krippendorff_alpha(m: pd.DataFrame, level: str = "nominal",
                       categories: Sequence[Any] | None = None) -> float:
    """Krippendorff's alpha (package ``krippendorff``); missing answers are allowed.

    ``level``: ``nominal``, ``ordinal`` (values coded in the order of ``categories`` or
    sorted) or ``interval`` (numbers as they are).
    """
    krippendorff = need("krippendorff")

    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise ConfigError(f"level {level!r}: use nominal, ordinal, interval or ratio")
    if level in ("interval", "ratio"):
        data = np.array([[np.nan if _missing(v) else float(v) for v in row]
                         for row in m.to_numpy()], dtype=float)
    else:
        data, cats = _codes(m, categories)
        if len(cats) < 2:
            return 1.0 if len(cats) == 1 else float("nan")
    pairable = np.sum(np.sum(~np.isnan(data), axis=1) >= 2)
    if pairable == 0:
        return float("nan")
    return float(krippendorff.alpha(reliability_data=data.T, level_of_measurement=level))


#: Shrout & Fleiss names -> McGraw & Wong names (pingouin >= 0.7)
_ICC_NAMES = {"ICC1": "ICC(1,1)", "ICC2": "ICC(A,1)", "ICC3": "ICC(C,1)",
              "ICC1k": "ICC(1,k)", "ICC2k": "ICC(A,k)", "ICC3k": "ICC(C,k)"}


def icc(m: pd.DataFrame, kind: str = "ICC2") -> float:
    """Intraclass correlation of numeric answers (pingouin), complete cases only.

    ``kind`` as in :func:`pingouin.intraclass_corr`: ``ICC1`` (one-way), ``ICC2``
    (two-way random, absolute agreement; the default), ``ICC3`` (two-way mixed,
    consistency), and their ``k`` averages (``ICC2k``…).
    """
    pingouin = need("pingouin")

    c = _complete(m)
    if len(c) < 2 or c.shape[1] < 2:
        return float("nan")
    long = c.astype(float).reset_index().melt(id_vars=c.index.name or "index",
                                              var_name="rater", value_name="score")
    long.columns = ["target", "rater", "score"]
    long["rater"] = long["rater"].astype(str)
    with warnings.catch_warnings():  # pingouin's own use of deprecated pandas keywords
        warnings.simplefilter("ignore")
        table = pingouin.intraclass_corr(long, targets="target", raters="rater", ratings="score")
    row = table[table["Type"].isin([kind, _ICC_NAMES.get(kind, kind)])]
    if row.empty:
        raise ConfigError(f"ICC kind {kind!r}: use one of {list(table['Type'])}")
    return float(row["ICC"].iloc[0])


def _levels(form: Form, question: str) -> tuple[str, list | None]:
    it = form[question]
    if it.type == "likert":
        return "ordinal", it.values
    if it.type in ("number", "slider"):
        return "interval", None
    return "nominal", None


def agreement(results: pd.DataFrame, form: Form, *, mode: str | None = "serious",
              repetition: int | None = 0, icc_kind: str = "ICC2") -> pd.DataFrame:
    """Between-reader agreement per question and stage, one row each.

    Columns: ``question, stage, level, n_cases, n_readers, percent_agreement,
    cohen_kappa`` (two readers; linearly weighted for Likert items), ``fleiss_kappa``
    (nominal items), ``krippendorff_alpha`` (at the item's level), ``icc`` (numeric and
    Likert items).
    """
    rows = []
    for it in form.questions:
        if it.type == "text":
            continue
        level, cats = _levels(form, it.name)
        for stage in sorted(results["stage"].unique()) if len(results) else []:
            m = ratings(results, it.name, mode=mode, stage=int(stage), repetition=repetition)
            readers = list(m.columns)
            row = {"question": it.name, "stage": int(stage), "level": level,
                   "n_cases": int(len(_complete(m))), "n_readers": len(readers),
                   "percent_agreement": percent_agreement(m),
                   "cohen_kappa": float("nan"), "fleiss_kappa": float("nan"),
                   "krippendorff_alpha": krippendorff_alpha(m, level, cats), "icc": float("nan")}
            if len(readers) == 2:
                row["cohen_kappa"] = cohen_kappa(m[readers[0]], m[readers[1]], categories=cats,
                                                 weights="linear" if level == "ordinal" else None) \
                    if level != "interval" else float("nan")
            if level == "nominal":
                row["fleiss_kappa"] = fleiss_kappa(m)
            else:
                row["icc"] = icc(m, icc_kind)
            rows.append(row)
    return pd.DataFrame(rows, columns=["question", "stage", "level", "n_cases", "n_readers",
                                       "percent_agreement", "cohen_kappa", "fleiss_kappa",
                                       "krippendorff_alpha", "icc"])


# --- within a reader -------------------------------------------------------------------

def intra_rater(results: pd.DataFrame, form: Form, question: str, *, mode: str | None = "serious",
                stage: int = 0, icc_kind: str = "ICC2") -> pd.DataFrame:
    """Each reader's agreement with themself across repetitions of the same cases.

    Columns ``reader, n_cases, percent_agreement, cohen_kappa`` (repetitions 1 and 2;
    weighted for Likert), ``krippendorff_alpha`` (all repetitions), ``icc`` (numeric).
    """
    level, cats = _levels(form, question)
    rows = []
    for reader, g in results.groupby("reader"):
        m = ratings(g, question, mode=mode, stage=stage, repetition=None, by="repetition")
        if m.shape[1] < 2:
            continue
        reps = list(m.columns)
        row = {"reader": reader, "n_cases": int(len(_complete(m))),
               "percent_agreement": percent_agreement(m),
               "cohen_kappa": float("nan"),
               "krippendorff_alpha": krippendorff_alpha(m, level, cats), "icc": float("nan")}
        if level != "interval":
            row["cohen_kappa"] = cohen_kappa(m[reps[0]], m[reps[1]], categories=cats,
                                             weights="linear" if level == "ordinal" else None)
        if level != "nominal":
            row["icc"] = icc(m, icc_kind)
        rows.append(row)
    return pd.DataFrame(rows, columns=["reader", "n_cases", "percent_agreement", "cohen_kappa",
                                       "krippendorff_alpha", "icc"])


# --- against a reference ---------------------------------------------------------------

def reference_from_reader(results: pd.DataFrame, question: str, reader: str, *,
                          mode: str | None = "serious", stage: int = 0,
                          repetition: int = 0) -> pd.Series:
    """One reader's answers as the reference (``psid -> value``)."""
    m = ratings(results, question, mode=mode, stage=stage, repetition=repetition)
    if reader not in m:
        raise ConfigError(f"no reader {reader!r} in these results (readers: {list(m.columns)})")
    return m[reader]


def reference_from_tags(project: Project, psids: Sequence[str], values: Sequence[Any]) -> pd.Series:
    """Ground truth from study tags: for each study the one of ``values`` it is tagged with.

    Studies with none (or more than one) of those tags get None.
    """
    df = project.studies()
    tags = dict(zip(df["psid"], df["tags"], strict=True))
    out = {}
    for p in psids:
        hit = [v for v in values if str(v) in set(tags.get(p, []))]
        out[p] = hit[0] if len(hit) == 1 else None
    return pd.Series(out, dtype=object)


def accuracy(results: pd.DataFrame, question: str, reference: Mapping[str, Any] | pd.Series, *,
             mode: str | None = "serious", stage: int | None = 0,
             repetition: int | None = 0) -> pd.DataFrame:
    """Per reader: ``n`` cases with a reference, ``correct`` and ``accuracy`` (= correct/n)."""
    ref = pd.Series(reference, dtype=object)
    m = ratings(results, question, mode=mode, stage=stage, repetition=repetition)
    rows = []
    for reader in m.columns:
        pairs = [(m.at[p, reader], ref[p]) for p in m.index
                 if p in ref.index and not _missing(ref[p]) and not _missing(m.at[p, reader])]
        correct = sum(a == b for a, b in pairs)
        rows.append({"reader": reader, "n": len(pairs), "correct": int(correct),
                     "accuracy": correct / len(pairs) if pairs else float("nan")})
    return pd.DataFrame(rows, columns=["reader", "n", "correct", "accuracy"])


def stage_effect(results: pd.DataFrame, question: str, reference: Mapping[str, Any] | pd.Series,
                 *, mode: str | None = "serious") -> pd.DataFrame:
    """Per reader and stage: accuracy and median seconds per read (e.g. raw vs AI-assisted).

    Every answered read with a reference counts (repetitions pooled). Columns
    ``reader, stage, n, accuracy, median_seconds``.
    """
    ref = pd.Series(reference, dtype=object)
    df = results if mode is None else results[results["mode"] == mode]
    col = f"answer.{question}"
    rows = []
    for (reader, stage), g in df.groupby(["reader", "stage"]):
        pairs = [(_hashable(a), ref[p]) for p, a in zip(g["psid"], g[col], strict=True)
                 if p in ref.index and not _missing(ref[p]) and not _missing(a)]
        rows.append({"reader": reader, "stage": int(stage), "n": len(pairs),
                     "accuracy": sum(a == b
                                     for a, b in pairs) / len(pairs) if pairs else float("nan"),
                     "median_seconds": float(g["seconds"].median())})
    return pd.DataFrame(rows, columns=["reader", "stage", "n", "accuracy", "median_seconds"])


def plot_agreement(table: pd.DataFrame, ax=None):  # noqa: ANN001, ANN201
    """Bar chart of an :func:`agreement` table (one group of bars per question and stage)."""
    plt = need("matplotlib.pyplot")

    stats = ["percent_agreement", "cohen_kappa", "fleiss_kappa", "krippendorff_alpha", "icc"]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4, 1.6 * len(table)), 3.2))
    labels = [f"{q}\n(stage {s})" for q, s in zip(table["question"], table["stage"], strict=True)]
    x = np.arange(len(table))
    w = 0.8 / len(stats)
    for i, s in enumerate(stats):
        ax.bar(x + (i - len(stats) / 2 + 0.5) * w, table[s].astype(float).fillna(0), w, label=s)
    ax.set_xticks(x, labels)
    ax.set_ylim(-1, 1.05)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel("agreement")
    ax.legend(fontsize="small", ncol=3, loc="lower left")
    return ax

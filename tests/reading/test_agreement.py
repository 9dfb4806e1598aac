"""Every statistic against values computed by hand on small tables (and the libraries)."""

from __future__ import annotations

import math

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from nora_lab.imaging import ROI
from nora_lab.reading import Form, Reading
from nora_lab.reading import agreement as ag

from .conftest import as_user, config

Y, N = "yes", "no"


def long(table: dict[str, list], question="q", reps=None) -> pd.DataFrame:
    """A results table from {reader: [answers per case]} (cases c0, c1, ...)."""
    rows = []
    for reader, vals in table.items():
        for i, v in enumerate(vals):
            rows.append({"mode": "serious", "reader": reader, "psid": f"c{i}", "stage": 0,
                         "repetition": 0 if reps is None else reps[reader],
                         f"answer.{question}": v})
    return pd.DataFrame(rows)


def test_cohen_kappa_by_hand():
    # agree on 7 of 10 (po = .7); a says yes 6x, b 5x: pe = .6*.5 + .4*.5 = .5 -> .4
    a = [Y, Y, Y, Y, Y, Y, N, N, N, N]
    b = [Y, Y, Y, Y, N, N, N, N, N, Y]
    assert ag.cohen_kappa(a, b) == pytest.approx(0.4)
    from sklearn.metrics import cohen_kappa_score

    assert ag.cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))


def test_weighted_kappa_by_hand():
    # linear weights on 1..3: observed disagreement 1/6, expected 1/2 -> 1 - 1/3
    k = ag.cohen_kappa([1, 2, 3], [1, 3, 3], weights="linear", categories=[1, 2, 3])
    assert k == pytest.approx(2 / 3)
    from sklearn.metrics import cohen_kappa_score

    assert k == pytest.approx(cohen_kappa_score([1, 2, 3], [1, 3, 3], weights="linear"))


def test_missing_answers_are_dropped_for_kappa():
    assert ag.cohen_kappa([Y, N, None, Y], [Y, N, Y, None]) == pytest.approx(1.0)


THREE = {"r1": ["a", "a", "b", "a"], "r2": ["a", "a", "b", "b"], "r3": ["a", "b", "b", "b"]}


def test_fleiss_kappa_by_hand():
    # P_i = 1, 1/3, 1, 1/3 -> Pbar = 2/3; p_a = p_b = 1/2 -> Pe = 1/2; kappa = 1/3
    m = ag.ratings(long(THREE), "q")
    assert list(m.columns) == ["r1", "r2", "r3"]
    assert ag.fleiss_kappa(m) == pytest.approx(1 / 3)


def test_krippendorff_nominal_by_hand():
    # coincidences o_aa = o_bb = 4, o_ab = o_ba = 2, n = 12: Do = 1/3, De = 72/132 -> 7/18
    m = ag.ratings(long(THREE), "q")
    assert ag.krippendorff_alpha(m, "nominal") == pytest.approx(7 / 18)


def test_krippendorff_interval_by_hand():
    # units (1,2) (3,3) (5,4): Do = 4/6; De = 2*60/30 = 4 -> alpha = 1 - 1/6
    m = ag.ratings(long({"a": [1, 3, 5], "b": [2, 3, 4]}), "q")
    assert ag.krippendorff_alpha(m, "interval") == pytest.approx(5 / 6)


def test_krippendorff_ordinal_by_hand():
    # units (1,2) (2,2) (3,3): n1=1, n2=3, n3=2; ordinal d2(1,2)=4, d2(1,3)=20.25, d2(2,3)=6.25
    # Do = (4+4)/6 = 4/3; De = 2*(3*4 + 2*20.25 + 6*6.25)/30 = 6 -> alpha = 1 - 2/9
    # (unused points 4 and 5 of the scale change nothing)
    m = ag.ratings(long({"a": [1, 2, 3], "b": [2, 2, 3]}), "q")
    assert ag.krippendorff_alpha(m, "ordinal", [1, 2, 3, 4, 5]) == pytest.approx(7 / 9)


def test_krippendorff_allows_missing():
    # a unit with one value is not pairable and drops out: same as without it
    m1 = ag.ratings(long({"a": [1, 3, 5, 2], "b": [2, 3, 4, None]}), "q")
    m2 = ag.ratings(long({"a": [1, 3, 5], "b": [2, 3, 4]}), "q")
    assert ag.krippendorff_alpha(m1,
                                 "interval") == pytest.approx(ag.krippendorff_alpha(m2, "interval"))


ICC_DATA = {"a": [9, 6, 8, 2], "b": [10, 7, 8, 3]}


def test_icc_by_hand():
    # two-way ANOVA: MSR = 18.125, MSC = 1.125, MSE = 0.125, n = 4, k = 2
    m = ag.ratings(long(ICC_DATA), "q")
    # (MSR-MSE)/(MSR+MSE+k(MSC-MSE)/n)
    assert ag.icc(m, "ICC2") == pytest.approx(18 / 18.75)
    assert ag.icc(m, "ICC3") == pytest.approx(18 / 18.25)          # (MSR-MSE)/(MSR+MSE)
    assert ag.icc(m, "ICC1") == pytest.approx(17.75 / 18.5)        # MSW = 1.5/4
    x = np.array([ICC_DATA["a"], ICC_DATA["b"]], float).T           # the mean squares themselves
    n, k = x.shape
    msr = k * ((x.mean(1) - x.mean()) ** 2).sum() / (n - 1)
    msc = n * ((x.mean(0) - x.mean()) ** 2).sum() / (k - 1)
    mse = (((x - x.mean()) ** 2).sum() - msr * (n - 1) - msc * (k - 1)) / ((n - 1) * (k - 1))
    assert (msr, msc, mse) == pytest.approx((18.125, 1.125, 0.125))


def test_percent_agreement():
    assert ag.percent_agreement(ag.ratings(long(THREE), "q")) == pytest.approx(0.5)


def test_checkbox_lists_are_categories():
    m = ag.ratings(long({"a": [["l"], ["l", "r"], []], "b": [["l"], ["l", "r"], ["r"]]}), "q")
    assert ag.percent_agreement(m) == pytest.approx(2 / 3)


def test_intra_rater_by_hand():
    df = pd.concat([
        long({"ann": [Y, Y, Y, Y, Y, Y, N, N, N, N]}, reps={"ann": 0}),
        long({"ann": [Y, Y, Y, Y, N, N, N, N, N, Y]}, reps={"ann": 1}),
    ])
    form = Form.from_json([{"type": "radio", "name": "q", "options": [Y, N]}])
    t = ag.intra_rater(df, form, "q")
    assert t.loc[0, "reader"] == "ann" and t.loc[0, "n_cases"] == 10
    assert t.loc[0, "cohen_kappa"] == pytest.approx(0.4)
    assert t.loc[0, "percent_agreement"] == pytest.approx(0.7)


def test_accuracy_against_reference_reader_and_tags(archive, project):
    df = long({"ref": [Y, N, Y, N], "a": [Y, N, N, N], "b": [N, N, N, N]})
    ref = ag.reference_from_reader(df, "q", "ref")
    acc = ag.accuracy(df, "q", ref).set_index("reader")
    assert acc.loc["a", "accuracy"] == pytest.approx(0.75) and acc.loc["b", "correct"] == 2
    project.tag_study("P01#S1", ["truth_yes"])
    project.tag_study("P02#S1", ["truth_no"])
    truth = ag.reference_from_tags(project, ["P01#S1", "P02#S1", "P03#S1"],
                                   ["truth_yes", "truth_no"])
    assert truth.to_dict() == {"P01#S1": "truth_yes", "P02#S1": "truth_no", "P03#S1": None}


def test_dice_and_hausdorff_by_hand():
    a = np.zeros((5, 1, 1), bool)
    b = np.zeros((5, 1, 1), bool)
    a[0:2] = True
    b[1:4] = True
    assert ag.dice(a, b) == pytest.approx(2 * 1 / (2 + 3))
    p = np.zeros((6, 6, 2), bool)
    q = np.zeros((6, 6, 2), bool)
    p[0, 0, 0] = True
    q[3, 4, 0] = True
    assert ag.hausdorff(p, q) == pytest.approx(5.0)
    assert ag.hausdorff(p, q, np.diag([2.0, 2.0, 2.0, 1.0])) == pytest.approx(10.0)
    assert ag.dice(p, p) == 1.0 and ag.hausdorff(p, p) == 0.0
    assert math.isnan(ag.hausdorff(p, np.zeros_like(p)))
    from scipy.spatial.distance import directed_hausdorff

    pts_p, pts_q = np.argwhere(p), np.argwhere(q)
    assert ag.hausdorff(p, q) == pytest.approx(max(directed_hausdorff(pts_p, pts_q)[0],
                                                   directed_hausdorff(pts_q, pts_p)[0]))


def test_agreement_table_and_plot(tmp_path):
    form = Form.from_json([{"type": "radio", "name": "q", "options": [Y, N]},
                           {"type": "likert", "name": "c", "min": 1, "max": 3},
                           {"type": "number", "name": "s"}])
    a = long({"a": [Y, Y, Y, Y, Y, Y, N, N, N, N], "b": [Y, Y, Y, Y, N, N, N, N, N, Y]})
    a["answer.c"] = [1, 2, 3, 1, 2, 3, 1, 2, 3, 1] + [1, 3, 3, 1, 2, 3, 1, 2, 3, 1]
    a["answer.s"] = [9, 6, 8, 2, 1, 1, 1, 1, 1, 1] + [10, 7, 8, 3, 1, 1, 1, 1, 1, 1]
    t = ag.agreement(a, form).set_index("question")
    assert t.loc["q", "cohen_kappa"] == pytest.approx(0.4)
    assert t.loc["q", "n_readers"] == 2 and t.loc["q", "n_cases"] == 10
    assert math.isnan(t.loc["q", "icc"]) and not math.isnan(t.loc["s", "icc"])
    assert t.loc["s", "level"] == "interval" and t.loc["c", "level"] == "ordinal"
    ax = ag.plot_agreement(t.reset_index())
    ax.figure.savefig(tmp_path / "agreement.png")
    assert (tmp_path / "agreement.png").stat().st_size > 1000


def test_roi_answers_and_dice_between_readers(archive, project):
    cfg = config()
    cfg["form"]["items"].append({"type": "roi", "name": "lesion_roi"})
    cfg["reading"]["stages"] = [cfg["reading"]["stages"][0]]
    Reading.create(project, "roi", cfg)
    ref = nib.load(project.study_dir("T01#S1") / "anat/t1.nii.gz")
    for user, lo in (("bob", 2), ("carol", 3)):
        s = Reading.open(as_user(archive, user), "roi").session("training")
        roi = ROI.from_reference(ref, name="lesion")
        roi.data[lo:6, 2:6, 2:6] = True
        item = s.current
        s.submit({"lesion": "yes"}, {"lesion_roi": roi})
        rel = Reading.open(project, "roi").results(reader=user)["annotation.lesion_roi"].iloc[0]
        assert rel == f"reading/roi/{user}/training_s0_r0_lesion_roi.nii.gz"
        assert (project.study_dir(item.psid) / rel).is_file()
    res = Reading.open(project, "roi").results()
    t = ag.roi_agreement(project, res, "lesion_roi", mode="training")
    assert len(t) == 1
    # 4x4x4 vs 3x4x4 inside it: 2*48/(64+48)
    assert t.loc[0, "dice"] == pytest.approx(96 / 112)
    assert t.loc[0, "hausdorff_mm"] == pytest.approx(1.0)
    # a restart removes bob's ROI file too, and keeps carol's
    s = Reading.open(as_user(archive, "bob"), "roi").session("training")
    s.restart()
    d = project.study_dir(res["psid"].iloc[0])
    assert not (d / "reading/roi/bob/training_s0_r0_lesion_roi.nii.gz").exists()
    assert (d / "reading/roi/carol/training_s0_r0_lesion_roi.nii.gz").exists()


def test_a_missing_package_names_the_feature_and_the_fix(monkeypatch):
    import sys

    from nora_lab.reading import _deps

    monkeypatch.setitem(sys.modules, "krippendorff", None)  # import now fails
    with pytest.raises(ImportError,
                       match="Krippendorff's alpha needs the package 'krippendorff': pip install "
                             "krippendorff"):
        _deps.need("krippendorff")


def test_stage_effect_pools_repetitions_by_hand():
    rows = []
    # reader a reads 2 cases x 2 repetitions at two stages; stage 1 is always right
    for rep in (0, 1):
        for psid, s0, s1 in (("c0", Y, Y), ("c1", Y if rep else N, N)):
            rows.append({"mode": "serious", "reader": "a", "psid": psid, "stage": 0,
                         "repetition": rep, "answer.q": s0, "seconds": 10.0 + rep})
            rows.append({"mode": "serious", "reader": "a", "psid": psid, "stage": 1,
                         "repetition": rep, "answer.q": s1, "seconds": 4.0})
    df = pd.DataFrame(rows)
    truth = {"c0": Y, "c1": N}
    t = ag.stage_effect(df, "q", truth).set_index("stage")
    # stage 0: c0 right twice, c1 right in repetition 0 only -> 3 of 4
    assert t.loc[0, "n"] == 4 and t.loc[0, "accuracy"] == pytest.approx(0.75)
    assert t.loc[1, "accuracy"] == 1.0
    assert t.loc[0, "median_seconds"] == pytest.approx(10.5) and t.loc[1, "median_seconds"] == 4.0

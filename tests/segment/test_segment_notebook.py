"""The example notebook runs top to bottom on the demo cohort, and the model it trains
segments the held-out study's white matter."""

from __future__ import annotations

import pytest

from nora_lab.testing.notebooks import run_notebook

#: the notebook's schedule in the suite (its own default is longer: see docs/segment.md)
EPOCHS = 5
#: what this short schedule reaches on the held-out study (the full one: Dice ≥ 0.85)
WM_DICE = 0.7


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    """The demo archive of ``make lab``, built through the real import path."""
    from nora_lab.demo import main as build_demo

    home = tmp_path_factory.mktemp("seg-demo-home")
    assert build_demo([str(home)]) == 0
    return home


@pytest.mark.notebook
@pytest.mark.slow
def test_segmentation_notebook_trains_applies_and_evaluates_on_the_demo(demo_home,
                                                                        monkeypatch):
    from nora_lab.archive import Archive
    from nora_lab.segment import evaluate

    monkeypatch.setenv("NORA_HOME", str(demo_home))
    monkeypatch.setenv("NORA_SEGMENT_EPOCHS", str(EPOCHS))
    text = run_notebook("segmentation.ipynb", timeout=900)
    assert "held-out WM Dice" in text
    assert any("image/png" in o.get("data", {}) for o in text.outputs)  # curve, overlay
    arc = Archive.open(demo_home)
    proj = arc.project("demo")
    scores = evaluate(proj, "tissue")
    held = scores[scores["split"] == "held out"].set_index("class")
    assert set(scores["split"]) == {"validation", "held out"} and len(held) == 2
    assert held.loc["wm", "dice"] >= WM_DICE, scores
    arc.close()

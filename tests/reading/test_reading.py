"""Two readers through a reading: modes, repetitions, stages, order, timing, restart,
CSV, rights (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from nora_lab.errors import ConfigError, NotFoundError, PermissionDenied
from nora_lab.reading import Reading, list_readings, read_csv
from nora_lab.reading.cases import Item

from .conftest import SERIOUS, TRAINING, as_user, config


class Clock:
    """A UTC clock that advances 7 s per call."""

    def __init__(self):
        self.t = datetime(2025, 1, 1, 12, 0, 0)

    def __call__(self):
        self.t += timedelta(seconds=7)
        return self.t


def answer(psid, stage, reader):
    yes = (int(psid[1:3]) + stage + (reader == "carol")) % 2 == 0
    return {"lesion": "yes" if yes else "no", "confidence": 3 + stage, "size_mm": 10.5,
            "where": ["left"] if yes else [], "comment": f"{reader} {psid}"}


def read_all(session, reader, stop_after=None):
    order = []
    while session.current is not None:
        it = session.current
        order.append(it)
        session.submit(answer(it.psid, it.stage, reader))
        if stop_after is not None and len(order) == stop_after:
            break
    return order


def test_two_readers_training_and_serious(archive, project):
    Reading.create(project, "r1", config())
    seen = {}
    for user in ("bob", "carol"):
        r = Reading.open(as_user(archive, user), "r1")
        tr = r.session("training", clock=Clock())
        assert tr.progress_text == "0 of 4 done"  # 2 cases x 2 stages
        assert [tr.items[i].psid for i in range(4)] == [TRAINING[0]] * 2 + [TRAINING[1]] * 2
        assert [i.stage for i in tr.items] == [0, 1, 0, 1]
        read_all(tr, user)
        assert tr.finished and tr.progress_text == "4 of 4 done"
        se = r.session("serious", clock=Clock())
        assert se.progress == (0, 16)  # 4 cases x 2 stages x 2 repetitions
        seen[user] = read_all(se, user)
    # idhash: the same order for both readers, and stages follow each other per case
    assert seen["bob"] == seen["carol"]
    assert [i.repetition for i in seen["bob"]] == [0] * 8 + [1] * 8
    rep0 = [i.psid for i in seen["bob"] if i.repetition == 0][::2]
    assert sorted(rep0) == SERIOUS
    res = Reading.open(project, "r1").results()
    assert len(res) == 2 * 4 + 2 * 16
    assert set(res["reader"]) == {"bob", "carol"}
    assert set(res["stage_name"]) == {"raw", "ai"}
    # timings: 7 s between presenting an item and submitting it
    assert (res["seconds"] == 7.0).all()
    assert (res["ended"] - res["started"] == pd.Timedelta(seconds=7)).all()
    # useastag: the last answer of a case is its study tag
    last = res[res["psid"] == "P01#S1"].sort_values("ended").iloc[-1]["answer.lesion"]
    tags = project.studies({"subject": "P01"})["tags"].iloc[0]
    assert last in tags and ({"yes", "no"} - {last}).isdisjoint(tags)


def test_idhash_same_in_every_session_full_differs(archive, project):
    Reading.create(project, "ih", config())
    orders = [Reading.open(as_user(archive, u), "ih").session("serious", start=False).items
              for u in ("bob", "carol", "bob")]
    assert orders[0] == orders[1] == orders[2]
    cfg = config()
    cfg["reading"]["mode_serious"]["random"] = "full"
    cfg["reading"]["mode_serious"]["filters"] = {}  # all 6 studies: 720 orders
    Reading.create(project, "fu", cfg)
    full = [[i.psid for i in Reading.open(as_user(archive, u), "fu")
             .session("serious", start=False).items[::2]] for u in ("bob", "carol", "bob", "bob")]
    assert len({tuple(o) for o in full}) > 1
    assert all(sorted(o[:6]) == sorted(TRAINING + SERIOUS) for o in full)


def test_none_follows_sort_order(archive, project):
    cfg = config()
    cfg["reading"]["mode_serious"]["random"] = "none"
    cfg["viewer"]["sortDirection"] = "desc"
    Reading.create(project, "so", cfg)
    items = Reading.open(project, "so").session("serious", start=False).items
    assert [i.psid for i in items[:8:2]] == SERIOUS[::-1]


def test_resume_where_stopped(archive, project):
    Reading.create(project, "rr", config())
    r = Reading.open(as_user(archive, "bob"), "rr")
    first = read_all(r.session("serious"), "bob", stop_after=5)
    s2 = Reading.open(as_user(archive, "bob"), "rr").session("serious")
    assert s2.progress_text == "5 of 16 done"
    assert s2.current not in first and s2.current == s2.items[5]


def test_restart_deletes_only_this_readers_results(archive, project):
    Reading.create(project, "rs1", config())
    for u in ("bob", "carol"):
        read_all(Reading.open(as_user(archive, u), "rs1").session("training"), u)
    s = Reading.open(as_user(archive, "bob"), "rs1").session("training")
    assert s.finished
    assert s.restart() == 4
    assert s.progress_text == "0 of 4 done" and s.current == s.items[0]
    res = Reading.open(project, "rs1").results("training")
    assert list(res["reader"].unique()) == ["carol"] and len(res) == 4


def test_restart_refused_when_not_allowed(archive, project):
    Reading.create(project, "nr", config(allowRestartOfSerious=False))
    s = Reading.open(as_user(archive, "bob"), "nr").session("serious")
    s.submit(answer(s.current.psid, 0, "bob"))
    with pytest.raises(PermissionDenied, match="allowRestartOfSerious"):
        s.restart()
    assert s.progress[0] == 1


def test_csv_round_trip(archive, project, tmp_path):
    Reading.create(project, "csv", config())
    read_all(Reading.open(as_user(archive, "bob"), "csv").session("training"), "bob")
    r = Reading.open(project, "csv")
    df = r.results()
    path = r.export_csv(tmp_path / "out.csv")
    back = read_csv(path, r.config.form)
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert back["answer.where"].map(type).eq(list).all()
    assert back["answer.confidence"].tolist() == df["answer.confidence"].tolist()


def test_rights(archive, project):
    Reading.create(project, "rt", config())
    with pytest.raises(NotFoundError):  # dave has no right on the project at all
        Reading.open(archive.as_user("dave").project("rs"), "rt")
    # erin is a reader; this form writes tags, which needs the editor role
    with pytest.raises(PermissionDenied, match="editor"):
        Reading.open(as_user(archive, "erin"), "rt").session("serious")
    # only the project admin sees everyone's results and creates readings
    bob = Reading.open(as_user(archive, "bob"), "rt")
    read_all(bob.session("training"), "bob")
    read_all(Reading.open(as_user(archive, "carol"), "rt").session("training"), "carol")
    assert set(bob.results()["reader"]) == {"bob"}
    with pytest.raises(PermissionDenied):
        bob.results(reader="carol")
    with pytest.raises(PermissionDenied):
        Reading.create(as_user(archive, "bob"), "mine", config())
    assert set(Reading.open(project, "rt").results()["reader"]) == {"bob", "carol"}
    with pytest.raises(NotFoundError, match="no reading 'nope'"):
        Reading.open(project, "nope")


def test_reader_without_tags_can_read(archive, project):
    cfg = config()
    cfg["form"]["items"][0].pop("useastag")
    Reading.create(project, "plain", cfg)
    s = Reading.open(as_user(archive, "erin"), "plain").session("training")
    s.submit(answer(s.current.psid, 0, "erin"))
    assert s.progress_text == "1 of 4 done"
    lst = list_readings(as_user(archive, "erin"))
    assert lst.loc[0, "training_done"] == 1 and lst.loc[0, "serious_total"] == 16


def test_stage_images_blind_and_joint(archive, project):
    cfg = config(joint=True, blind={"metadata": ["date"], "results": "all"})
    Reading.create(project, "jt", cfg)
    s = Reading.open(as_user(archive, "bob"), "jt").session("training")
    it = s.current
    assert s.case_label() == "case 1" and s.case_label(s.items[1]) == "case 1" and s.case_label(
        s.items[2]) == "case 2" and s.case_info() == {"date": "2024-01-01"}
    assert [p["path"].name for p in s.images()] == ["t1.nii.gz"]
    s.submit(answer(it.psid, 0, "bob"))
    assert [p.get("role") for p in s.images()] == [None, "mask"]  # stage 2: the AI mask too
    # joint: carol continues the same set of results
    c = Reading.open(as_user(archive, "carol"), "jt").session("training")
    assert c.progress_text == "1 of 4 done" and c.current == Item(it.psid, 1, 0)
    assert c.earlier_results()[0]["answers"]["lesion"] in ("yes", "no")
    c.submit(answer(it.psid, 1, "carol"))
    res = Reading.open(project, "jt").results()
    assert set(res["reader"]) == {"joint"} and set(res["entered_by"]) == {"bob", "carol"}


def test_bad_config_and_answers_are_clear(archive, project):
    bad = config()
    bad["reading"]["mode_training"] = {"SQLCondition": "STAG LIKE '%Training%'"}
    with pytest.raises(ConfigError, match='STAG:Training'):
        Reading.create(project, "bad", bad)
    bad = config()
    bad["reading"]["mode_serious"]["random"] = "shuffle"
    with pytest.raises(ConfigError, match="random 'shuffle'"):
        Reading.create(project, "bad", bad)
    Reading.create(project, "ok", config())
    with pytest.raises(ConfigError, match="exists"):
        Reading.create(project, "ok", config())
    s = Reading.open(as_user(archive, "bob"), "ok").session("training")
    with pytest.raises(ConfigError, match="must be answered"):
        s.submit({"confidence": 2})
    with pytest.raises(ConfigError, match="within 1.0..5.0"):
        s.submit({"lesion": "no", "confidence": 9})
    assert s.progress[0] == 0  # nothing half-written


def test_stage_images_from_a_saved_autoloader(archive, project):
    from nora_lab.widgets.autoloader import Autoloader

    Autoloader.from_dict({"items": [{"pattern": "anat/t1.nii.gz"},
                                    {"pattern": "ai/seg.nii.gz", "role": "roi"}]},
                         name="ai").save(project)
    cfg = config()
    cfg["reading"]["stages"][1] = {"name": "ai", "images": [{"autoloader": "ai"}]}
    Reading.create(project, "al", cfg)
    s = Reading.open(project, "al").session("training")
    stage2 = s.images(s.items[1])
    assert [(p["path"].name, p.get("role")) for p in stage2] == [("t1.nii.gz", None),
                                                                 ("seg.nii.gz", "mask")]


def test_full_order_keeps_a_begun_case_together(archive, project):
    cfg = config()
    cfg["reading"]["mode_serious"]["random"] = "full"
    Reading.create(project, "fk", cfg)
    s = Reading.open(as_user(archive, "bob"), "fk").session("serious")
    first = s.current
    s.submit(answer(first.psid, 0, "bob"))  # stage 1 of a case, then the reader stops
    for seed in range(5):  # every new session (new random order) continues with stage 2
        again = Reading.open(as_user(archive, "bob"), "fk").session("serious", seed=seed)
        assert again.current == Item(first.psid, 1, 0)


def test_answering_an_item_again_replaces_the_answer(archive, project):
    Reading.create(project, "again", config())
    s = Reading.open(as_user(archive, "bob"), "again").session("training")
    first = s.current
    s.submit({"lesion": "yes"})
    s.submit({"lesion": "no"}, item=first)
    res = Reading.open(project, "again").results()
    assert len(res) == 1 and res.iloc[0]["answer.lesion"] == "no"
    assert "no" in project.studies({"subject": first.psid.split("#")[0]})["tags"].iloc[0]
    with pytest.raises(ConfigError, match="not part of"):
        s.submit({"lesion": "no"}, item=Item("P01#S1", 0, 0))  # a serious case, not training

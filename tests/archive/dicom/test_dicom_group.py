"""Grouping by study/series UIDs, geometry notes, and the naming policy."""

from __future__ import annotations

import dataclasses

import pytest

from nora_lab.archive.dicom._group import geometry_notes, group
from nora_lab.archive.dicom._naming import (
    Policy,
    compile_pattern,
    pattern_override,
    series_names,
    study_key,
    subject_key,
)
from nora_lab.archive.dicom._scan import Instance, scan
from nora_lab.errors import ConfigError


@pytest.fixture(scope="module")
def nih(dicom_dir, tmp_path_factory):
    return scan(dicom_dir / "dcm_qa_nih" / "In", staging=tmp_path_factory.mktemp("s"),
                workers=1)


def test_nih_studies_and_series(nih):
    studies = group(nih.instances)
    assert len(studies) == 2
    by_maker = {st.common("manufacturer").split()[0].upper(): st for st in studies}
    ge, si = by_maker["GE"], by_maker["SIEMENS"]
    assert [(s.series_number, len(s.instances)) for s in ge.series] == [
        (4, 150), (5, 150), (6, 150), (7, 150)]
    assert [(s.series_number, len(s.instances)) for s in si.series] == [
        (3, 2), (4, 2), (5, 2), (6, 2)]
    assert {subject_key(st) for st in studies} == {"DEV"}
    assert study_key(ge, pseudonymized=False) == "27018"
    assert study_key(si, pseudonymized=False) == "1"
    assert study_key(si, pseudonymized=True).startswith("S")
    for s in ge.series + si.series:
        assert not s.notes, (s.series_number, s.notes)
        numbers = [i.instance_number for i in s.instances]
        assert numbers == sorted(numbers)


def test_same_series_uid_different_numbers_stay_apart(dicom_dir, tmp_path):
    found = scan(dicom_dir / "dcm_qa_ts" / "In", staging=tmp_path)
    (study,) = group(found.instances)
    assert len({s.series_uid for s in study.series}) == 1
    assert [s.series_number for s in study.series] == list(range(1, 10))


def test_default_names_and_policy(nih):
    studies = group(nih.instances)
    names = sorted(series_names(s, Policy()) for st in studies for s in st.series)
    assert ("4_Axial_EPI-FMRI_Interleaved_I_to_S", "s004") in names
    assert ("3_EPI_PE=AP", "s003") in names
    custom = Policy.from_mapping({"series_folder": "{SeriesDescription}_{SeriesNumber:02d}",
                                  "file_name": "{Modality}"})
    s = studies[0].series[0]
    folder, stem = series_names(s, custom)
    assert folder.endswith(f"_{s.series_number:02d}") and stem == "MR"
    with pytest.raises(ConfigError, match="unknown key"):
        Policy.from_mapping({"serie_folder": "x"})
    with pytest.raises(ConfigError, match="fields are"):
        series_names(s, Policy(series_folder="{Nope}"))


def test_names_hide_identity(nih):
    s = group(nih.instances)[0].series[0]
    folder, _ = series_names(s, Policy(series_folder="{SeriesDescription}"),
                             hide=("Axial",))
    assert "axial" not in folder.lower()


def test_pattern_nora_syntax_and_overrides(nih):
    rx = compile_pattern(r"(?<patients_id>\d{8})(?<scanner>GE|Si)/mr_(?<studies_id>\d+)$")
    studies = group(nih.instances, pattern_override(rx, None, None))
    assert len(studies) == 8  # one study per series folder
    assert {subject_key(st) for st in studies} == {"20180918"}
    assert sorted(study_key(st, pseudonymized=False) for st in studies) == sorted(
        ["0003", "0004", "0005", "0006", "0004", "0005", "0006", "0007"])
    fixed = group(nih.instances, pattern_override(None, "P1", "S1"))
    assert {(subject_key(st), study_key(st, pseudonymized=True)) for st in fixed} == {
        ("P1", "S1")}


@pytest.mark.parametrize("bad", [r"(?<patients_id>[", r"(\d+)/(\w+)"])
def test_bad_patterns(bad):
    with pytest.raises(ConfigError):
        compile_pattern(bad)


def _stack(n=10, step=2.0, drop=(), tilt=0.0, skew=None):
    out = []
    for k in range(n):
        if k in drop:
            continue
        z = k * step if skew is None else skew[k]
        out.append(Instance(path=f"/x/{k}", source=f"/x/{k}", sop_uid=f"1.{k}", study_uid="1",
                            series_uid="2", instance_number=k + 1,
                            position=(0.0, tilt * z, z), orientation=(1, 0, 0, 0, 1, 0)))
    return out


def test_geometry_complete_stack_has_no_notes():
    assert geometry_notes(_stack()) == []


def test_geometry_missing_slice():
    notes = geometry_notes(_stack(drop=(4,)))
    assert any(n.startswith("missing slices: about 1 slice") for n in notes)
    assert any(n.startswith("missing instance numbers: 5") for n in notes)


def test_geometry_non_uniform_spacing():
    notes = geometry_notes(_stack(skew=[0, 2, 4, 6, 8.7, 10.7, 12.7, 14.7, 16.7, 18.7]))
    assert any(n.startswith("non-uniform slice spacing") for n in notes)


def test_geometry_gantry_tilt():
    notes = geometry_notes(_stack(tilt=0.2))
    assert any(n.startswith("gantry tilt") for n in notes)
    tagged = [dataclasses.replace(i, gantry_tilt=12.0) for i in _stack()]
    assert any("gantry tilt 12°" in n for n in geometry_notes(tagged))


def test_geometry_incomplete_volume():
    vols = _stack() + _stack()[:9]
    vols = [dataclasses.replace(v, instance_number=n + 1) for n, v in enumerate(vols)]
    assert any(n.startswith("incomplete volumes") for n in geometry_notes(vols))


def test_real_series_with_a_lost_slice(dicom_dir, tmp_path):
    found = scan(dicom_dir / "dcm_qa_ge" / "In", staging=tmp_path)
    instances = sorted(found.instances, key=lambda i: i.instance_number)
    del instances[60]
    (study,) = group(instances)
    (series,) = study.series
    assert any(n.startswith("missing slices") for n in series.notes)

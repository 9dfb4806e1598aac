"""A short concurrency soak on both backends: four processes doing random imports, adds,
overwrites, tags, deletes, pseudonyms and grants for 20 s, one of them killed now and then;
afterwards every invariant holds (see :mod:`nora_lab.testing.soak`). The long run is
``benchmarks/bench_soak.py`` (8 processes × 2 minutes)."""

import pytest

from nora_lab.testing import soak


@pytest.mark.slow
def test_four_processes_for_20_s_with_kills_leave_every_invariant_holding(url, tmp_path,
                                                                          dicom_dir):
    series = soak.make_series(dicom_dir / "dcm_qa_ts" / "In" / "1.dcm", tmp_path / "src")
    result = soak.run_soak(url, tmp_path / "data", series, processes=4, seconds=20,
                           kill_every=6)
    assert result.errors == []
    assert result.kills >= 2
    assert all(result.ops[op] > 0 for op in soak.OPERATIONS), result.ops
    assert soak.check(url, tmp_path / "data") == []

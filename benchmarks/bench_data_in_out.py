"""Data in and out: adopting a folder tree, BIDS export and BIDS import, each against the
plain work underneath it, on the same input in the same run.

* **adopt** (``mode="copy"``) of a lab folder ``<subject>/<session>/<series>/`` with one
  NIfTI and its JSON sidecar per series, vs ``shutil.copytree`` of the same tree (the
  copy alone: what adopting adds is the walk, the checks and the rows);
* **bids_export** of the adopted project vs ``shutil.copytree`` of its files;
* **bids_import** of that export into a fresh project vs pybids indexing the dataset
  (``BIDSLayout``) plus ``shutil.copytree`` (the reading and the copying it builds on).

Each is measured ``--repeat`` times, best kept. Prints
``BENCH <name> <value> <unit> ratio=<ours/peer>``.

Usage: ``python benchmarks/bench_data_in_out.py [--subjects N] [--repeat N]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np

from nora_lab.archive import Archive
from nora_lab.archive.adopt import adopt
from nora_lab.archive.bids import export_bids, import_bids

SERIES = {"t1": "T1 MPRAGE", "flair": "3D FLAIR", "t2": "t2_tse_tra"}


def make_tree(root: Path, subjects: int) -> int:
    """The lab folder; returns its number of files."""
    rng = np.random.default_rng(0)
    for s in range(subjects):
        for folder, desc in SERIES.items():
            d = root / f"S{s:03d}" / "base" / folder
            d.mkdir(parents=True)
            data = rng.integers(0, 1000, (32, 32, 24), dtype=np.int16)
            nib.save(nib.Nifti1Image(data, np.eye(4)), d / f"{folder}.nii.gz")
            (d / f"{folder}.json").write_text(json.dumps(
                {"SeriesDescription": desc, "Modality": "MR", "RepetitionTime": 2.3,
                 "SeriesNumber": len(folder)}))
    return subjects * len(SERIES) * 2


def best(fn: Callable[[int], object], repeat: int) -> float:
    times = []
    for i in range(repeat):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nora-bench-io-") as tmp:
        work = Path(tmp)
        n = make_tree(work / "lab", args.subjects)
        arc = Archive.open(work / "home")
        try:
            ours = best(lambda i: adopt(arc.create_project(f"a{i}"), work / "lab"),
                        args.repeat)
            peer = best(lambda i: shutil.copytree(work / "lab", work / f"cp{i}"), args.repeat)
            print(f"BENCH adopt_copy_{n}files {ours:.3f} s ratio={ours / peer:.2f}")

            proj = arc.project("a0")
            ours = best(lambda i: export_bids(proj, work / f"bids{i}"), args.repeat)
            peer = best(lambda i: shutil.copytree(proj.root, work / f"pcp{i}"), args.repeat)
            print(f"BENCH bids_export_{n}files {ours:.3f} s ratio={ours / peer:.2f}")

            def pybids_copy(i: int) -> None:
                from bids import BIDSLayout

                BIDSLayout(str(work / "bids0"), validate=False).get()
                shutil.copytree(work / "bids0", work / f"bcp{i}")

            ours = best(lambda i: import_bids(arc.create_project(f"b{i}"), work / "bids0"),
                        args.repeat)
            peer = best(pybids_copy, args.repeat)
            print(f"BENCH bids_import_{n}files {ours:.3f} s ratio={ours / peer:.2f}")
        finally:
            arc.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

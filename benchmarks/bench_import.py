"""DICOM import: our whole import vs a plain ``dcm2niix -z y`` run and vs dicom2nifti.

Same input, same run, each measured ``--repeat`` times (best kept), peers interleaved with
ours so that a busy machine hurts all alike:

* **ours**: ``import_dicom`` into a fresh SQLite archive — header scan, grouping,
  dcm2niix per series, nibabel checks, parallel gzip, files moved in, rows written;
  timed in a process that has imported nora_lab already (as in a notebook);
* **dcm2niix**: the same wheel's binary, ``dcm2niix -z y -b y -f %s_%d -o OUT SRC``
  (``-z y`` without pigz on the machine: its internal zlib-ng, level 6, one core) — the
  issue's peer; and the same at our default level (``-3``), to show what compression
  level alone buys. The ``.nii.gz`` bytes of both are printed beside ours;
* **dicom2nifti**: ``dicom2nifti.convert_directory(SRC, OUT, compression=True)``.

Prints ``BENCH <name> <value> <unit> ratio=<ours/peer>`` lines; the data are the shared
test sets (``../shared/data/dicom``) and ``many_small``: 60 small MR series (6 slices of
32×32 each, one folder per series) made here with pydicom, where starting dcm2niix once
per series weighs most.

Usage: ``python benchmarks/bench_import.py [--repeat N] [--only NAME]``
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nora_lab.testing.testdata import dicom_root

DATA = dicom_root()  # verified test data: `make testdata`

CASES = {
    # name: (source, description)
    "structural384": (DATA / "example-dicom-structural" / "dicoms",
                      "7T T1, 384 slices, 81 MB, one series"),
    "ge_t1_130": (DATA / "dcm_qa_ge" / "In", "GE 3D T1, 130 slices, one series"),
    "epi600": (DATA / "dcm_qa_nih" / "In",
               "GE + Siemens EPI, 608 files in 8 series + 10 text files"),
    "many_small": (None, "60 MR series of 6 slices 32x32, one folder each (made here)"),
}


def _many_small(dest: Path, n_series: int = 60, slices: int = 6) -> Path:
    """``n_series`` small single-frame MR series, one folder each (pydicom)."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    study = generate_uid()
    for s in range(n_series):
        folder = dest / f"series{s:03d}"
        folder.mkdir(parents=True)
        uid = generate_uid()
        for z in range(slices):
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = MRImageStorage
            meta.MediaStorageSOPInstanceUID = sop = generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = Dataset()
            ds.file_meta = meta
            ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, sop
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, uid
            ds.PatientID, ds.PatientName, ds.StudyDate = "BENCH", "Bench^Small", "20250101"
            ds.StudyTime, ds.SeriesNumber, ds.InstanceNumber = "100000", s + 1, z + 1
            ds.Modality, ds.Manufacturer = "MR", "GE MEDICAL SYSTEMS"
            ds.SeriesDescription = ds.ProtocolName = f"scan{s}"
            ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
            ds.ImagePositionPatient = [0, 0, 3.0 * z]
            ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
            ds.PixelSpacing, ds.SliceThickness, ds.Rows, ds.Columns = [1, 1], 3, 32, 32
            ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
            ds.PixelRepresentation, ds.SamplesPerPixel = 0, 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.PixelData = ((np.arange(1024) * (s + z + 1)) % 4096).astype(np.uint16).tobytes()
            ds.save_as(folder / f"{z:03d}.dcm", enforce_file_format=True)
    return dest


def _gz_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.nii.gz"))


def _ours(src: Path, work: Path) -> tuple[float, dict]:
    from nora_lab.archive import Archive
    from nora_lab.archive.dicom import import_dicom

    arc = Archive.open(work / "home", user="bench")
    try:
        proj = arc.create_project("bench")
        t0 = time.perf_counter()
        report = import_dicom(proj, src, progress=False)
        dt = time.perf_counter() - t0
    finally:
        arc.close()
    if not report.ok:
        raise SystemExit(f"our import failed on {src}:\n{report}")
    return dt, {**report.timings, "bytes": _gz_bytes(work / "home")}


def _dcm2niix(src: Path, work: Path, level: int = 6) -> tuple[float, int]:
    from nora_lab.archive.dicom._convert import dcm2niix_path

    out = work / "dcm2niix"
    out.mkdir()
    cmd = [dcm2niix_path(), "-z", "y", f"-{level}", "-b", "y", "-f", "%s_%d", "-o", str(out),
           str(src)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0, _gz_bytes(out)


def _dicom2nifti(src: Path, work: Path) -> float | None:
    import dicom2nifti

    logging.getLogger("dicom2nifti").setLevel(logging.ERROR)
    out = work / "dicom2nifti"
    out.mkdir()
    t0 = time.perf_counter()
    try:
        dicom2nifti.convert_directory(str(src), str(out), compression=True)
    except Exception as exc:  # noqa: BLE001 - report the peer's failure, keep going
        print(f"# dicom2nifti failed on {src.name}: {type(exc).__name__}: {exc}")
        return None
    return time.perf_counter() - t0


def _warm_up() -> None:
    """Import our modules and start the thread pools once (a notebook would have)."""
    with tempfile.TemporaryDirectory() as tmp:
        _ours(DATA / "dcm_qa_ts" / "In" / "1.dcm", Path(tmp))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=sorted(CASES))
    args = ap.parse_args(argv)
    _warm_up()
    print(f"# {os.cpu_count()} cores; best of {args.repeat}")
    from nora_lab.archive.dicom import Policy

    level = Policy().compresslevel
    made = Path(tempfile.mkdtemp(prefix="nora-bench-data-"))
    for name, (src, what) in CASES.items():
        if args.only and name != args.only:
            continue
        if src is None:
            src = _many_small(made / name)
        ours, peer, peer_lv, d2n, timings = [], [], [], [], {}
        for _ in range(args.repeat):
            for which in ("dcm2niix", "ours", "dcm2niix-level", "dicom2nifti"):
                work = Path(tempfile.mkdtemp(prefix="nora-bench-"))
                try:
                    if which == "ours":
                        dt, tm = _ours(src, work)
                        if not ours or dt < min(ours):
                            timings = tm
                        ours.append(dt)
                    elif which == "dcm2niix":
                        peer.append(_dcm2niix(src, work))
                    elif which == "dcm2niix-level":
                        peer_lv.append(_dcm2niix(src, work, level))
                    else:
                        d2n.append(_dicom2nifti(src, work))
                finally:
                    shutil.rmtree(work, ignore_errors=True)
        best = min(ours)
        (best_peer, peer_bytes), (best_lv, lv_bytes) = min(peer), min(peer_lv)
        ours_bytes = timings.pop("bytes")
        detail = ", ".join(f"{k} {v:.2f}" for k, v in timings.items())
        print(f"# {name}: {what}; ours: {detail}")
        print(f"# {name}: .nii.gz bytes: ours {ours_bytes / 1e6:.2f} MB (gzip level {level}), "
              f"dcm2niix -z y {peer_bytes / 1e6:.2f} MB (level 6, "
              f"{100 * (ours_bytes / peer_bytes - 1):+.1f} % ours), "
              f"dcm2niix -z y -{level} {lv_bytes / 1e6:.2f} MB")
        print(f"# {name}: dcm2niix -z y {best_peer:.2f} s; dcm2niix -z y -{level} {best_lv:.2f} s")
        print(f"BENCH import_{name}_vs_dcm2niix {best:.3f} s ratio={best / best_peer:.2f}")
        print(f"BENCH import_{name}_vs_dcm2niix_level{level} {best:.3f} s "
              f"ratio={best / best_lv:.2f}")
        ok = [t for t in d2n if t is not None]
        if ok:
            print(f"# {name}: dicom2nifti {min(ok):.2f} s")
            print(f"BENCH import_{name}_vs_dicom2nifti {best:.3f} s ratio={best / min(ok):.2f}")
        else:
            print(f"# {name}: dicom2nifti could not convert this input (no ratio)")
    shutil.rmtree(made, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

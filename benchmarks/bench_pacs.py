"""PACS: C-MOVE of the 384-slice study from Orthanc into our node vs into dcmtk's storescp.

Same Orthanc, same study, same run, each measured ``--repeat`` times (best kept), ours and
the peer interleaved so a busy machine hurts both alike:

* **receive**: dcmtk ``movescu`` asks Orthanc to move the study (81 MB, 384 instances)
  to (a) our :class:`~nora_lab.archive.pacs.DicomNode` (raw writes to the incoming
  area, no import), (b) dcmtk ``storescp`` writing to a folder — the same client, only the
  receiver differs; timed from ``movescu``'s start to its exit (all instances stored);
* **receive+import**: (a) ``pull(node, project, studies=[uid])`` — study/series query,
  resumability check, C-MOVE into our node, import to NIfTI in the archive; (b)
  ``movescu`` + ``storescp``, then ``import_dicom`` of the received folder.

Receive is also measured in CPU seconds (our process vs the ``storescp`` process), which a
shared, busy machine disturbs less than wall time. Every peer runs with ``TCP_NODELAY=1``.
Prints ``BENCH <name> <value> <unit> ratio=<ours/peer>``.

Usage: ``python benchmarks/bench_pacs.py [--repeat N]``
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

from nora_lab.testing.testdata import path as dataset

STUDY = dataset("example-dicom-structural") / "dicoms"  # verified test data: `make testdata`


def _wait_port(port: int, timeout: float = 10.0) -> None:
    import socket

    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port}")


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _movescu(pacs, dest: str, uid: str) -> float:
    from nora_lab.testing.pacs import dcmtk

    t0 = time.perf_counter()
    dcmtk("movescu", "-S", "-aet", dest, "-aec", pacs.aet, "-aem", dest,
          "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={uid}",
          "127.0.0.1", pacs.dicom_port, timeout=600)
    return time.perf_counter() - t0


class _StoreSCP:
    def __init__(self, port: int, out: Path) -> None:
        from nora_lab.archive.pacs._net import peer_env
        from nora_lab.testing.pacs import dcmtk_path

        out.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([dcmtk_path("storescp"), "-aet", "DCMTK", "-od", str(out),
                                      str(port)], env=peer_env(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        _wait_port(port)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    logging.getLogger("pynetdicom").setLevel(logging.ERROR)

    from pydicom import dcmread

    from nora_lab.archive import Archive
    from nora_lab.archive.dicom import import_dicom
    from nora_lab.archive.pacs import DicomNode, pull
    from nora_lab.archive.pacs.nodes import PacsConfig
    from nora_lab.testing.pacs import OrthancServer, free_port

    uid = str(dcmread(next(STUDY.iterdir()), stop_before_pixels=True).StudyInstanceUID)
    work = Path(tempfile.mkdtemp(prefix="nora-bench-pacs-"))
    nora_port, dcmtk_port = free_port(), free_port()
    pacs = OrthancServer(work / "orthanc", modalities={
        "NORA": ("NORA", "127.0.0.1", nora_port), "DCMTK": ("DCMTK", "127.0.0.1", dcmtk_port)})
    times: dict[str, list[float]] = {k: [] for k in ("ours_recv", "peer_recv", "ours_imp",
                                                      "peer_imp", "ours_cpu", "peer_cpu")}
    try:
        pacs.start()
        t0 = time.perf_counter()
        n = len(pacs.load(STUDY))
        print(f"# Orthanc loaded with {n} instances in {time.perf_counter() - t0:.1f} s; "
              f"study {uid}", flush=True)
        cfg = PacsConfig(work / "pacs.yaml", port=nora_port, incoming=str(work / "incoming"),
                         quiet_period=3600)
        node_cfg = pacs.node("orthanc", max_associations=1, timeout=120)
        for r in range(args.repeat):
            # receive only: movescu -> Orthanc -> (ours | storescp)
            arc = Archive.open(work / f"home-r{r}", user="bench")
            arc.create_project("bench")
            node = DicomNode(arc, config=cfg, project="bench", auto_import=False,
                             autoexec=False).start()
            try:
                c0 = _cpu(os.getpid())
                times["ours_recv"].append(_movescu(pacs, "NORA", uid))
                times["ours_cpu"].append(_cpu(os.getpid()) - c0)
                got = sum(1 for _ in (work / "incoming").rglob("*.dcm"))
                assert got == n, f"our node stored {got} of {n}"
            finally:
                node.stop()
                shutil.rmtree(work / "incoming", ignore_errors=True)
            out = work / f"storescp-r{r}"
            scp = _StoreSCP(dcmtk_port, out)
            try:
                c0 = _cpu(scp.proc.pid)
                times["peer_recv"].append(_movescu(pacs, "DCMTK", uid))
                times["peer_cpu"].append(_cpu(scp.proc.pid) - c0)
            finally:
                scp.stop()
            assert sum(1 for _ in out.iterdir()) == n
            # receive + import
            proj = arc.project("bench")
            node = DicomNode(arc, config=cfg, project="bench", auto_import=False,
                             autoexec=False).start()
            try:
                t0 = time.perf_counter()
                res = pull(node_cfg, proj, studies=[uid], receiver=node, progress=False,
                           config=cfg)
                times["ours_imp"].append(time.perf_counter() - t0)
                assert list(res["status"]) == ["imported"], res.to_string()
            finally:
                node.stop()
            arc2 = Archive.open(work / f"home-peer-r{r}", user="bench")
            proj2 = arc2.create_project("bench")
            out2 = work / f"storescp-imp-r{r}"
            scp = _StoreSCP(dcmtk_port, out2)
            try:
                t0 = time.perf_counter()
                _movescu(pacs, "DCMTK", uid)
                rep = import_dicom(proj2, out2, progress=False)
                times["peer_imp"].append(time.perf_counter() - t0)
                assert rep.ok, str(rep)
            finally:
                scp.stop()
            arc.close()
            arc2.close()
            print(f"# round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s"
                                                 for k, v in times.items()), flush=True)
    finally:
        pacs.close()
        shutil.rmtree(work, ignore_errors=True)
    best = {k: min(v) for k, v in times.items()}
    mb = sum(p.stat().st_size for p in STUDY.iterdir()) / 1e6
    print(f"BENCH pacs_move_receive_384 {best['ours_recv']:.3f} s "
          f"ratio={best['ours_recv'] / best['peer_recv']:.2f}")
    print(f"BENCH pacs_move_receive_384_rate {mb / best['ours_recv']:.1f} MB/s "
          f"ratio={best['peer_recv'] / best['ours_recv']:.2f}")
    print(f"BENCH pacs_move_receive_384_cpu {best['ours_cpu']:.3f} s "
          f"ratio={best['ours_cpu'] / max(best['peer_cpu'], 1e-3):.2f}")
    print(f"BENCH pacs_move_receive_import_384 {best['ours_imp']:.3f} s "
          f"ratio={best['ours_imp'] / best['peer_imp']:.2f}")
    print(f"# peer (dcmtk storescp): receive {best['peer_recv']:.3f} s, "
          f"receive+import_dicom {best['peer_imp']:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Batch overhead: one trivial BASH job over many studies, against plain loops.

1. Local backend, 1000 studies: ``launch()`` on a LocalCluster (cluster start, queueing,
   per-study resolution, logs, states, everything) against a plain sequential
   ``subprocess.run`` loop over the same 1000 resolved scripts, in the same run.
   Per-job overhead = (ours − loop) / N: the wall time a job costs beyond running its script.
2. Slurm backend, 200 studies (a single-node Slurm started with scripts/slurm/): time to
   the first finished study and total, against bare dask-jobqueue (the same SLURMCluster
   settings, ``client.map`` of ``subprocess.run`` over the same scripts).

Prints ``BENCH <name> <value> <unit> ratio=<ours/peer>``. Target: local per-job overhead
≤ 30 ms on 2 cores.

    python benchmarks/bench_batch.py [--n 1000] [--slurm-n 200] [--no-slurm]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def bench(name: str, value: float, unit: str, ratio: float) -> None:
    print(f"BENCH {name} {value:.3f} {unit} ratio={ratio:.2f}", flush=True)


def make_project(base: Path, n: int):
    from nora_lab.archive import Archive

    arc = Archive.open(f"sqlite:///{base / 'archive.sqlite'}", root=base / "data", user="bench")
    proj = arc.create_project("bench")
    for i in range(n):
        proj.add_study(proj.add_subject(f"S{i:05d}"), "T1", date="2024-01-01")
    return proj


def trivial_batch(name: str):
    from nora_lab.batch import Batch, Job

    return Batch(name, [Job.bash("echo $s1 $NORA_PSID", name="echo", s1="hello")])


def scripts_of(run) -> list[str]:
    return [str(Path(log).with_suffix("")) + ".1.sh" for log in run.logs.values()]


def plain_loop(scripts: list[str], logdir: Path) -> float:
    logdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for i, s in enumerate(scripts):
        with open(logdir / f"{i}.log", "wb") as fh:
            subprocess.run(["bash", s], stdout=fh, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - t0


def bench_local(base: Path, n: int) -> None:
    from nora_lab.batch import launch

    proj = make_project(base, n)
    t0 = time.perf_counter()
    run = launch(trivial_batch("local"), proj, wait=True, progress=False)
    ours = time.perf_counter() - t0
    assert run.counts() == {"d": n}, run.counts()
    workers = run.states()["worker"].nunique()
    peer = plain_loop(scripts_of(run), base / "plain-logs")
    bench(f"batch_local_{n}_wall", ours, "s", ours / peer)
    bench("batch_local_per_job_overhead", (ours - peer) / n * 1e3, "ms", ours / peer)
    bench("batch_local_per_job_wall", ours / n * 1e3, "ms", ours / peer)
    print(f"# local: {n} studies on {workers} workers; plain sequential loop {peer:.2f}s "
          f"({peer / n * 1e3:.1f} ms/script)", flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _first_and_total(done_count, n: int, t0: float) -> tuple[float, float]:
    first = None
    while True:
        c = done_count()
        if c and first is None:
            first = time.perf_counter() - t0
        if c >= n:
            return first or 0.0, time.perf_counter() - t0
        time.sleep(0.02)


def bench_slurm(base: Path, n: int) -> None:
    from distributed import Client, as_completed

    from nora_lab.batch import launch, settings
    from nora_lab.batch.backends import make_cluster

    sbase = Path(tempfile.mkdtemp(prefix="nora-slurm-bench-", dir="/tmp"))
    env = {**os.environ, "SLURM_BASE": str(sbase), "SLURM_NODE_CPUS": "4", "SLURM_INSTALL": "1",
           "SLURM_CTLD_PORT": str(_free_port()), "SLURMD_PORT": str(_free_port())}
    scripts_dir = REPO / "scripts" / "slurm"
    start = subprocess.run(["bash", str(scripts_dir / "start_slurm.sh")], env=env,
                           capture_output=True, text=True)
    if start.returncode != 0:
        raise SystemExit(f"Slurm could not start:\n{start.stdout}\n{start.stderr}")
    os.environ["SLURM_CONF"] = str(sbase / "etc" / "slurm.conf")
    # warm-up: a fresh slurmctld schedules its first job only after ~3 s (the recipe)
    subprocess.run(["sbatch", "--wait", "--wrap", "true", "-o", "/dev/null"], check=True,
                   capture_output=True)
    opts = {"backend": "slurm", "interface": "lo", "memory": "1GB", "walltime": "00:20:00",
            "scheduler_options": {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"},
            "local_directory": str(base / "dws"), "maximum_jobs": 3}
    try:
        proj = make_project(base / "slurm", n)
        t0 = time.perf_counter()
        run = launch(trivial_batch("slurm"), proj, progress=False, **opts)
        first, ours = _first_and_total(lambda: sum(run.counts().values()), n, t0)
        run.wait(progress=False)
        assert run.counts() == {"d": n}, run.counts()
        scripts = scripts_of(run)

        t0 = time.perf_counter()  # the peer: bare dask-jobqueue on the same settings
        cluster = make_cluster(settings(**opts), n_units=n, log_directory=base / "peer-dask")
        client = Client(cluster, set_as_default=False)
        futs = client.map(lambda s: subprocess.run(["bash", s], capture_output=True).returncode,
                          scripts, pure=False)
        done = []
        it = as_completed(futs, loop=client.loop)
        pfirst = None
        for f in it:
            done.append(f.result())
            if pfirst is None:
                pfirst = time.perf_counter() - t0
        peer = time.perf_counter() - t0
        client.close()
        cluster.close()
        assert done == [0] * n
        bench(f"batch_slurm_{n}_first_result", first, "s", first / pfirst)
        bench(f"batch_slurm_{n}_total", ours, "s", ours / peer)
    finally:
        subprocess.run(["bash", str(scripts_dir / "stop_slurm.sh")], env=env, capture_output=True)
        shutil.rmtree(sbase, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="studies on the local backend")
    ap.add_argument("--slurm-n", type=int, default=200, help="studies on the Slurm backend")
    ap.add_argument("--no-slurm", action="store_true", help="skip the Slurm part")
    args = ap.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="nora-bench-batch-"))
    os.environ.setdefault("NORA_HOME", str(base / "home"))
    try:
        bench_local(base / "local", args.n)
        if not args.no_slurm:
            bench_slurm(base, args.slurm_n)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The lab deployment: spawning a lab, and DICOM import over HTTP.

Brings a whole lab up with ``scripts/hub/up.sh`` (single-node Slurm, PostgreSQL,
configurable-http-proxy, JupyterHub + batchspawner; one Linux user ``nora-bench``) in a
temporary base, and tears it down with ``down.sh --purge``. Needs root.

1. **Spawn → lab ready** (median of 5): ``POST /hub/api/users/<u>/server`` until the hub
   reports the lab ready (it answered through the proxy). Peer, alternated with ours: a
   plain ``sbatch`` of the same job script (rendered from jupyterhub_config.py's template
   with the same partition, cores, memory, walltime and environment) running
   ``jupyter-server`` directly, until its ``/api/status`` answers — the cost of the job
   and the server alone, without the hub.
2. **REST import of a 100-file zip → files in the archive** (median of 5): ``POST
   nora/api/import`` to the user's lab through the proxy, polled until ``done``. Peer: the
   same ``import_dicom`` call in-process on the same zip (a fresh project each time).

Prints ``BENCH <name> <value> <unit> ratio=<ours/peer>``.

    sudo .venv/bin/python benchmarks/bench_hub.py [--spawns 5] [--imports 5]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from nora_lab.testing.testdata import path as dataset

REPO = Path(__file__).resolve().parents[1]
USER = "nora-bench"
OPTIONS = {"partition": "proc", "cores": "1", "memory": "1G", "walltime": "00:30:00"}
GE_T1 = dataset("dcm_qa_ge") / "In" / "05_3D_Ax_T1_MP_RAGE_R22"  # `make testdata`


def bench(name: str, value: float, unit: str, ratio: float) -> None:
    print(f"BENCH {name} {value:.3f} {unit} ratio={ratio:.2f}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def facts(base: Path) -> dict[str, str]:
    out = {}
    for line in (base / "hub.env").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value.strip("'")  # up.sh quotes each value
    return out


def job_script(f: dict[str, str], cmd: str) -> str:
    """The hub's job script, rendered as batchspawner renders it, around ``cmd``."""
    from batchspawner.batchspawner import format_template
    from traitlets.config.loader import PyFileConfigLoader

    c = PyFileConfigLoader("jupyterhub_config.py", path=str(REPO)).load_config()
    home = os.path.expanduser(f"~{USER}")
    return format_template(
        c.NoraSlurmSpawner.batch_script, homedir=home,
        keepvars="PATH,VIRTUAL_ENV,NORA_DB,NORA_ROOT,SLURM_CONF,HOME,USER,SHELL,LANG",
        partition=OPTIONS["partition"], nprocs=OPTIONS["cores"], memory=OPTIONS["memory"],
        runtime=OPTIONS["walltime"], gres="", options="", srun="srun", epilogue="",
        prologue=c.NoraSlurmSpawner.req_prologue, cmd=cmd)


def plain_sbatch_until_serving(f: dict[str, str]) -> float:
    """Seconds from sbatch of the same job script (jupyter-server in it) to /api/status."""
    port, token = free_port(), secrets.token_hex(16)
    venv = f["NORA_HUB_VENV"]
    home = os.path.expanduser(f"~{USER}")
    cmd = (f"{venv}/bin/jupyter-server --no-browser --ServerApp.ip=127.0.0.1 "
           f"--ServerApp.port={port} --ServerApp.port_retries=0 "
           f"--IdentityProvider.token={token} --ServerApp.root_dir={home}")
    env = {"PATH": f"{venv}/bin:/usr/local/bin:/usr/bin:/bin", "VIRTUAL_ENV": venv,
           "NORA_DB": f["NORA_DB"], "NORA_ROOT": f["NORA_ROOT"], "SLURM_CONF": f["SLURM_CONF"],
           "HOME": home, "USER": USER, "SHELL": "/bin/bash", "LANG": "C.UTF-8"}
    script = job_script(f, cmd)
    t0 = time.perf_counter()
    job = subprocess.run([shutil.which("runuser"), "-u", USER, "--", "sbatch", "--parsable"],
                         input=script, env=env, capture_output=True, text=True, check=True
                         ).stdout.strip().split(";")[0]
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/status",
                                 headers={"Authorization": f"token {token}"})
    try:
        while True:
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    if r.status == 200:
                        return time.perf_counter() - t0
            except (urllib.error.URLError, OSError):
                pass
            if time.perf_counter() - t0 > 300:
                raise RuntimeError(f"plain sbatch job {job}: jupyter-server not up in 300 s")
            time.sleep(0.1)
    finally:
        env_slurm = {**os.environ, "SLURM_CONF": f["SLURM_CONF"]}
        subprocess.run(["scancel", job], env=env_slurm, check=False)
        while subprocess.run(["squeue", "-h", "-j", job], env=env_slurm, capture_output=True,
                             text=True).stdout.strip():
            time.sleep(0.2)


def hub_spawn_until_ready(hub) -> float:
    t0 = time.perf_counter()
    hub.request_spawn(USER, **OPTIONS)
    hub.wait_ready(USER, timeout=300, poll=0.1)
    return time.perf_counter() - t0


def zip_100(dest: Path) -> Path:
    """The GE 3D T1's slices 1..100 (a contiguous slab), zipped."""
    import pydicom

    files = sorted(GE_T1.iterdir())
    by_number = {int(pydicom.dcmread(p, stop_before_pixels=True).InstanceNumber): p for p in files}
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for n in range(1, 101):
            zf.write(by_number[n], f"t1/{by_number[n].name}")
    return dest


def rest_import(lab, project: str, z: Path) -> float:
    t0 = time.perf_counter()
    status, job, _ = lab.call("POST", f"nora/api/import?project={project}", raw=z.read_bytes(),
                              headers={"Content-Type": "application/zip"})
    if status != 202:
        raise RuntimeError(f"REST import answered {status}: {job}")
    while True:
        state = lab.get(f"nora/api/import/{job['id']}")
        if state["state"] == "done":
            return time.perf_counter() - t0
        if state["state"] == "failed":
            raise RuntimeError(f"REST import failed: {state['message']}")
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spawns", type=int, default=5)
    ap.add_argument("--imports", type=int, default=5)
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("bench_hub.py starts Slurm, PostgreSQL and labs as another user: run it as root")
    from nora_lab.server.hubapi import HubClient

    base = Path(tempfile.mkdtemp(prefix="nora-hub-bench-", dir="/tmp"))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "NORA_"))},
           "NORA_HUB_BASE": str(base), "NORA_HUB_DEMO_USERS": USER,
           "NORA_HUB_BIND_URL": f"http://127.0.0.1:{free_port()}",
           "NORA_HUB_VENV_SRC": sys.prefix}
    try:
        t0 = time.perf_counter()
        up = subprocess.run(["bash", str(REPO / "scripts/hub/up.sh")], env=env,
                            capture_output=True, text=True)
        if up.returncode:
            sys.exit(f"up.sh failed:\n{up.stdout}\n{up.stderr}")
        print(f"# lab up in {time.perf_counter() - t0:.1f} s (scripts/hub/up.sh)", flush=True)
        f = facts(base)
        os.environ.update({"SLURM_CONF": f["SLURM_CONF"]})
        hub = HubClient(f["NORA_HUB_BIND_URL"],
                        Path(f["NORA_HUB_SERVICE_TOKEN_FILE"]).read_text().strip())
        hub.add_user(USER)

        ours, peer = [], []
        for i in range(args.spawns):
            peer.append(plain_sbatch_until_serving(f))
            ours.append(hub_spawn_until_ready(hub))
            if i < args.spawns - 1:
                hub.stop(USER)
        print(f"# spawn→ready (hub): {[round(x, 2) for x in ours]} s; plain sbatch→serving: "
              f"{[round(x, 2) for x in peer]} s", flush=True)
        bench("hub_spawn_to_ready_median", statistics.median(ours), "s",
              statistics.median(ours) / statistics.median(peer))

        from nora_lab.archive import Archive
        from nora_lab.archive.dicom import import_dicom

        os.umask(0o002)  # project folders the lab's user (group nora-lab) may write into
        z = zip_100(base / "t1_100.zip")
        lab = hub.lab(USER)
        ours, peer = [], []
        with Archive.open(f["NORA_DB"], user="nora-admin") as arc:
            for i in range(args.imports):
                arc.create_project(f"rest{i}")
                arc.grant(f"rest{i}", USER, "editor")
                proj = arc.create_project(f"local{i}")
                t0 = time.perf_counter()
                report = import_dicom(proj, z, progress=False)
                peer.append(time.perf_counter() - t0)
                assert report.ok and report.files(), report.summary()
                ours.append(rest_import(lab, f"rest{i}", z))
                n = len(arc.project(f"rest{i}").files())
                assert n == len(report.files()), (n, report.files())
        print(f"# REST import (100 files): {[round(x, 2) for x in ours]} s; in-process "
              f"import_dicom: {[round(x, 2) for x in peer]} s", flush=True)
        bench("hub_rest_import_100_files_median", statistics.median(ours), "s",
              statistics.median(ours) / statistics.median(peer))
    finally:
        subprocess.run(["bash", str(REPO / "scripts/hub/down.sh"), "--purge"], env=env,
                       capture_output=True, text=True)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The concurrency soak, long: 8 processes × 2 minutes of random archive writes on SQLite and
on PostgreSQL (one worker killed every 15 s), then every invariant checked.

Prints operations per second, against the same operation mix run by one process alone
for the same time (the peer):

    BENCH soak_ops_sqlite <ops/s> ops/s ratio=<8 processes / 1 process>
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from nora_lab.testing import PostgresServer, soak
from nora_lab.testing.testdata import path as dataset


def _one(url: str, tmp: Path, series: list[Path], processes: int, seconds: float,
         kill_every: float | None) -> soak.SoakResult:
    result = soak.run_soak(url, tmp / "data", series, processes=processes, seconds=seconds,
                           kill_every=kill_every)
    broken = soak.check(url, tmp / "data")
    if broken or result.errors:
        print("\n".join(broken + result.errors[:20]), file=sys.stderr)
        raise SystemExit(f"soak on {url.split(':')[0]}: {len(broken)} invariant(s) broken, "
                         f"{len(result.errors)} unexpected error(s)")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--processes", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--kill-every", type=float, default=15.0)
    args = ap.parse_args(argv)
    src = dataset("dcm_qa_ts") / "In" / "1.dcm"
    with tempfile.TemporaryDirectory(prefix="nora-soak-") as t, PostgresServer() as pg:
        tmp = Path(t)
        series = soak.make_series(src, tmp / "src")
        for backend in ("sqlite", "postgres"):
            rates = []
            for n, kill in ((args.processes, args.kill_every), (1, None)):
                work = tmp / f"{backend}-{n}"
                url = (f"sqlite:///{work / 'archive.sqlite'}" if backend == "sqlite"
                       else pg.create_database())
                r = _one(url, work, series, n, args.seconds if n > 1 else args.seconds / 4,
                         kill)
                rates.append(r.per_second)
                print(f"# {backend}, {n} process(es): {sum(r.ops.values())} operations in "
                      f"{r.seconds:.0f} s, {r.kills} kill(s); {dict(r.ops)}; invariants hold")
            print(f"BENCH soak_ops_{backend} {rates[0]:.1f} ops/s ratio={rates[0] / rates[1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

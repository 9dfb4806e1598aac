"""Filter-bar and file-pattern queries on 100,000 studies × 10 files, on both backends.

Builds an archive of 1,000,000 file rows (with study/subject/file tags, job states and
sidecar keys) on SQLite and on a real PostgreSQL, then times ten typical queries as the
study table runs them (the first page of 50 studies; the count is timed separately,
the table shows it after the page). The peer is the same query as a pandas scan of an
in-memory DataFrame of the same rows (vectorized regex on the paths), in the same run.

    python benchmarks/bench_archive.py [--studies 100000] [--reps 20] [--backend sqlite]

The queries run as a lab user with the reader right on the project (not as the
administrator), so PostgreSQL's row-level security is on for every one of them.

Prints p50/p95 per query, ``BENCH archive_<backend>_<query>_p95 <ms> ms ratio=<ours/pandas>``
for the first page and ``BENCH archive_<backend>_<query>_count_p95 <ms> ms ratio=…`` for the
table's "n of N" count. Targets: first page p95 ≤ 20 ms, count p95 ≤ 50 ms, both backends.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from nora_lab.archive import Archive, _db
from nora_lab.archive import _schema as t
from nora_lab.archive.filters import parse
from nora_lab.archive.patterns import FilePattern
from nora_lab.testing import PostgresServer

SERIES = [  # (series folder, file names, share of studies that have it)
    ("t1_trio_mpr", ["s001.nii", "s001.json"], 0.30),
    ("MPR_t1_sag", ["s002.nii.gz", "s002.json"], 0.30),
    ("flair_tra", ["s003.nii.gz", "s003.json"], 0.40),
    ("dti_30dir", ["s004.nii.gz", "s004.bval", "s004.bvec", "s004.json"], 0.50),
    ("bold_rest", ["s005.nii.gz", "s005.json"], 0.50),
    ("ct_head", ["ct.nii.gz", "ct.json"], 0.30),
    ("localizer", ["s000.nii.gz"], 0.90),
    ("rare_series_xyz", ["r.nii"], 0.0002),
]

QUERIES = {  # name -> filter bars (the study table's page query)
    "prefix_file": {"files": "t1_trio*/s0*.nii"},
    "two_conventions": {"files": "t1_trio*/s0*.nii MPR_t1*/s*.nii"},
    "file_and_stag": {"files": "t1_tri*/s0*.nii & STAG:control"},
    "leading_common": {"files": "*/s00_.nii"},
    "leading_substring": {"files": "*flair*"},
    "leading_rare": {"files": "*rare_series*"},
    "subject_prefix": {"subject": "P01 P02"},
    "study_tag": {"subject": "STAG:control"},
    "job_error": {"subject": "JOB:e"},
    "desc_and_file": {"description": "CT", "files": "*.bval"},
}


def build(arc: Archive, n_studies: int, seed: int = 0) -> pd.DataFrame:
    """Fill project 'bench' with synthetic rows by bulk insert; return the rows as a frame."""
    rng = random.Random(seed)
    proj = arc.create_project("bench")
    n_sub = n_studies // 5
    eng = arc.engine
    subjects = [{"project_id": proj.pk, "subject_id": f"P{i:06d}"} for i in range(n_sub)]
    with _db.write(eng) as conn:
        conn.execute(sa.insert(t.subjects), subjects)
        sub_pk = dict(conn.execute(sa.select(t.subjects.c.subject_id, t.subjects.c.id)
                                   .where(t.subjects.c.project_id == proj.pk)).all())
    studies, descs = [], ["MR Head", "CT Head", "MR Knee", "PET"]
    for i in range(n_studies):
        sid = f"P{i // 5:06d}"
        studies.append({"project_id": proj.pk, "subject": sub_pk[sid], "study_id": f"S{i % 5}",
                        "psid": f"{sid}#S{i % 5}",
                        "date": f"{2010 + i % 14}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                        "description": descs[i % 4]})
    with _db.write(eng) as conn:
        conn.execute(sa.insert(t.studies), studies)
        st = conn.execute(sa.select(t.studies.c.id, t.studies.c.subject, t.studies.c.study_id,
                                    t.studies.c.description)
                          .where(t.studies.c.project_id == proj.pk).order_by(t.studies.c.id)).all()
    inv_sub = {v: k for k, v in sub_pk.items()}
    rows, recs = [], []
    for s in st:
        chosen = [x for x in SERIES if rng.random() < x[2]]
        files = [(ser, name) for ser, names, _ in chosen for name in names]
        while len(files) < 10:
            files.append(("misc", f"extra{len(files):02d}.txt"))
        for ser, name in files[:10]:
            rel = f"{ser}/{name}"
            rows.append({"project_id": proj.pk, "study": s.id, "series": ser, "name": name,
                         "path_lc": rel.lower(), "filetype": "nifti" if ".nii" in name else "other",
                         "size": 1000, "meta": {"EchoTime": 0.003, "SeriesNumber": 3}})
            recs.append((s.id, f"{inv_sub[s.subject]}#{s.study_id}", rel.lower(), s.description))
    t0 = time.perf_counter()
    with _db.write(eng) as conn:
        for i in range(0, len(rows), 50_000):
            conn.execute(sa.insert(t.files), rows[i:i + 50_000])
        ids = [s.id for s in st]
        conn.execute(sa.insert(t.study_tags), [{"study": i, "tag": "control"}
                                                for i in ids if rng.random() < 0.1])
        conn.execute(sa.insert(t.jobs), [{"project_id": proj.pk, "study": i, "name": "seg",
                                          "state": "e"} for i in ids if rng.random() < 0.01])
        conn.execute(sa.insert(t.subject_tags), [{"subject": pk, "tag": "cohortA"}
                                                  for pk in sub_pk.values() if rng.random() < 0.2])
    if eng.dialect.name == "postgresql":
        # as the tables' owner (the login role): for the acting archive user (SET ROLE)
        # PostgreSQL skips them ("only table or database owner can vacuum it"), and the
        # planner then plans with the statistics of an empty project
        with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            role = conn.exec_driver_sql("SELECT current_setting('role')").scalar_one()
            conn.exec_driver_sql("RESET ROLE")
            conn.exec_driver_sql("VACUUM ANALYZE")
            if role != "none":
                conn.exec_driver_sql(f'SET ROLE "{role}"')
    else:
        with eng.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    print(f"  inserted {len(rows):,} file rows in {time.perf_counter() - t0:.1f} s")
    df = pd.DataFrame(recs, columns=["study", "psid", "path_lc", "description"])
    tagged = set(r[0] for r in _rows(eng, sa.select(t.study_tags.c.study)))
    df["control"] = df["study"].isin(tagged)
    errored = set(r[0] for r in _rows(eng, sa.select(t.jobs.c.study).where(t.jobs.c.state == "e")))
    df["job_e"] = df["study"].isin(errored)
    return df


def _rows(eng, q):
    with eng.connect() as conn:
        return conn.execute(q).all()


def pandas_page(df: pd.DataFrame, filters: dict[str, str]) -> list[str]:
    """The peer: the same filter as a pandas scan, every matching PSID in order (the
    page is its first 50, the count its length)."""
    mask = np.ones(len(df), dtype=bool)
    for column, text in filters.items():
        group_mask = np.ones(len(df), dtype=bool)
        for group in parse(text):
            m = np.zeros(len(df), dtype=bool)
            for term in group:
                if term.kind == "STAG":
                    m |= df["control"].to_numpy()
                elif term.kind == "JOB":
                    m |= df["job_e"].to_numpy()
                elif column == "files":
                    m |= df["path_lc"].str.match(FilePattern(term.value).regex().pattern,
                                                 case=False).to_numpy()
                elif column == "subject":
                    m |= df["psid"].str.lower().str.startswith(term.value.lower()).to_numpy()
                elif column == "description":
                    m |= df["description"].str.lower().str.startswith(term.value.lower()).to_numpy()
            group_mask &= m
        mask &= group_mask
    return sorted(df.loc[mask, "psid"].unique())


def timeit(fn, reps: int) -> tuple[float, float, object]:
    out = fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1,
                                               int(round(0.95 * (len(times) - 1))))], out


def run_backend(name: str, url: str, root: Path, n: int, reps: int, explain: bool) -> list[str]:
    print(f"== {name}: building {n:,} studies × 10 files")
    admin = Archive.open(url, root=root, user="bench")
    df = build(admin, n)
    admin.add_user("reader")
    admin.grant("bench", "reader", "reader")
    arc = admin.as_user("reader")  # PostgreSQL: SET ROLE reader, row-level security applies
    assert not arc.is_admin
    proj = arc.project("bench")
    lines = []
    for qname, flt in QUERIES.items():
        p50, p95, page = timeit(lambda flt=flt: proj.studies(flt, limit=50), reps)
        c50, c95, count = timeit(lambda flt=flt: proj.count_studies(flt), max(3, reps // 4))
        _, pd95, ref = timeit(lambda flt=flt: pandas_page(df, flt), max(3, reps // 4))
        assert page["psid"].tolist() == ref[:50], f"{qname}: database and pandas disagree"
        assert count == len(ref), f"{qname}: count {count}, pandas finds {len(ref)}"
        print(f"  {qname:18s} page p50 {p50:7.1f} ms  p95 {p95:7.1f} ms | count {count:6d} "
              f"p95 {c95:7.1f} ms | pandas p95 {pd95:7.1f} ms")
        if explain:
            q = proj._studies_select(flt).limit(50)
            with arc.engine.connect() as conn:
                sql = "EXPLAIN QUERY PLAN " if name == "sqlite" else "EXPLAIN "
                comp = q.compile(conn, compile_kwargs={"literal_binds": True})
                for r in conn.exec_driver_sql(sql + str(comp)).all():
                    print("     ", r[-1])
        lines.append(f"BENCH archive_{name}_{qname}_p95 {p95:.1f} ms ratio={p95 / pd95:.3f}")
        lines.append(f"BENCH archive_{name}_{qname}_count_p95 {c95:.1f} ms "
                     f"ratio={c95 / pd95:.3f}")
    p50, p95, _ = timeit(lambda: proj.files("dti*/*.bval", limit=50), reps)
    _, pd95, _ = timeit(lambda: df[df["path_lc"].str.match(r"dti.*/.*\.bval.*")].head(50), 3)
    lines.append(f"BENCH archive_{name}_files_pattern_p95 {p95:.1f} ms ratio={p95 / pd95:.3f}")
    arc.close()
    admin.close()
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--explain", action="store_true", help="print each query's plan")
    args = ap.parse_args()
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend in ("sqlite", "both"):
            lines += run_backend("sqlite", f"sqlite:///{tmp}/bench.sqlite", Path(tmp) / "d1",
                                 args.studies, args.reps, args.explain)
        if args.backend in ("postgres", "both"):
            with PostgresServer() as pg:
                lines += run_backend("postgres", pg.create_database("bench"), Path(tmp) / "d2",
                                     args.studies, args.reps, args.explain)
    print("\n".join(lines))


if __name__ == "__main__":
    main()

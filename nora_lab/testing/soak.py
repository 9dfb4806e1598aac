"""A concurrency soak of the archive: processes doing random writes at once, then invariants.

Each worker process opens the same archive and, until its time is up, picks an operation:
a DICOM import (small series that every worker shares, so imports race for the same SOP
instances, under patient IDs that fold alike), a file add or overwrite, tagging, deleting a
file or a study, adding a pseudonymized subject, or (as the admin) a grant. Optionally the
driver kills a worker with SIGKILL now and then and starts a new one. Afterwards
:func:`check` runs ``fsck --repair`` (finishing or undoing what killed writers left) and
checks what must always hold:

* rows and files agree (fsck clean after the repair);
* no real ID has two pseudonyms, no SOP instance is recorded twice, no series UID is filed
  in two places;
* every recorded instance's series folder holds a file row (no orphan rows).

Used by ``tests/archive/test_soak.py`` (short) and ``benchmarks/bench_soak.py`` (long).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SoakResult", "make_series", "run_soak", "check", "OPERATIONS"]

#: patient IDs the imports use: some fold to one folder name under a naive rule
PATIENT_IDS = ("12 34", "12#34", "12/34", "Ünï 名前", "P001", "P002")
OPERATIONS = ("import", "add", "overwrite", "tag", "delete_file", "delete_study", "pseudonym",
              "grant")
_WEIGHTS = (3, 4, 2, 3, 1, 1, 2, 1)


@dataclass
class SoakResult:
    """Operations done (by kind), errors that were not expected, seconds, kills."""

    ops: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    kills: int = 0

    @property
    def per_second(self) -> float:
        return sum(self.ops.values()) / self.seconds if self.seconds else 0.0


def make_series(src: Path, dest: Path, n: int = 6) -> list[Path]:
    """``n`` one-slice series made from the DICOM file ``src`` (new UIDs, a patient each
    from :data:`PATIENT_IDS`), one folder each under ``dest``; the same on every call with
    the same arguments (UIDs derived from ``n`` and the index)."""
    import pydicom

    out = []
    for k in range(n):
        ds = pydicom.dcmread(src)
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.PatientID = PATIENT_IDS[k % len(PATIENT_IDS)]
        ds.PatientName = f"Soak^{k}"
        root = "1.2.826.0.1.3680043.10.1137"  # a UID root for test objects
        ds.StudyInstanceUID = f"{root}.1.{k // 2}"
        ds.SeriesInstanceUID = f"{root}.2.{k}"
        ds.SOPInstanceUID = f"{root}.3.{k}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        folder = dest / f"series{k}"
        folder.mkdir(parents=True, exist_ok=True)
        ds.save_as(folder / "1.dcm")
        out.append(folder)
    return out


def _worker(url: str, root: str, project: str, pseudo: str, series: list[str], seconds: float,
            seed: int, queue: Any) -> None:
    from nora_lab.archive import Archive
    from nora_lab.archive.dicom import import_dicom
    from nora_lab.errors import NoraError

    rng = random.Random(seed)
    arc = Archive.open(url, root=root, user="alice")
    proj, pp = arc.project(project), arc.project(pseudo)
    ops: Counter = Counter()
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        op = rng.choices(OPERATIONS, _WEIGHTS)[0]
        try:
            if op == "import":
                override = rng.choice([None, None, "12 34", "12#34"])
                import_dicom(proj, rng.choice(series), patients_id=override, progress=False,
                             workers=1)
            elif op == "pseudonym":
                pp.add_subject(f"REAL-{rng.randrange(5)}", identity={"name": "Doe^J"})
            elif op == "grant":
                arc.grant(project, "bob", rng.choice(["reader", "editor", "none"]))
            else:
                _file_op(proj, op, rng)
            ops[op] += 1
        except NoraError as exc:
            if not _expected(op, exc):
                errors.append(f"{op}: {type(exc).__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001 - the soak reports, never hides
            errors.append(f"{op}: {type(exc).__name__}: {exc}")
    arc.close()
    queue.put((dict(ops), errors))


def _file_op(proj: Any, op: str, rng: random.Random) -> None:
    sid = proj.add_subject(f"S{rng.randrange(4)}")
    psid = proj.add_study(sid, f"V{rng.randrange(2)}")
    rel = f"work/f{rng.randrange(20)}.txt"
    if op == "add":
        proj.add_bytes(f"{rng.random()}".encode(), psid,
                       f"w{os.getpid()}/f{rng.randrange(10**6)}.txt",
                       tags=["soak"])
    elif op == "overwrite":
        proj.add_bytes(f"{rng.random()}".encode(), psid, rel, overwrite=True)
    elif op == "tag":
        files = proj.files(psid=psid, limit=5)
        if len(files):
            proj.tag_files(list(files["path"]), [rng.choice(["a", "b", "c"])])
    elif op == "delete_file":
        files = proj.files(psid=psid, limit=5)
        if len(files):
            proj.remove_file(rng.choice(list(files["path"])))
    elif op == "delete_study":
        proj.delete_study(psid)


def _expected(op: str, exc: Exception) -> bool:
    """Refusals that concurrency makes normal: the thing was deleted or changed meanwhile."""
    from nora_lab.errors import AlreadyExistsError, NotFoundError

    return isinstance(exc, (NotFoundError, AlreadyExistsError))


def run_soak(url: str, root: Path, series: list[Path], *, processes: int = 4,
             seconds: float = 20.0, kill_every: float | None = None,
             seed: int = 0) -> SoakResult:
    """Run the soak; the archive at ``url`` gets projects ``soak`` and ``soakp``.

    Parameters
    ----------
    processes
        Workers at once.
    seconds
        How long each worker runs.
    kill_every
        Kill a random worker with SIGKILL every this many seconds (and start another).
    """
    from nora_lab.archive import Archive

    arc = Archive.open(url, root=root, user="alice")
    arc.create_project("soak", exist_ok=True)
    arc.create_project("soakp", naming="pseudonym", exist_ok=True)
    arc.add_user("bob")
    arc.close()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    result = SoakResult()
    args = (url, str(root), "soak", "soakp", [str(s) for s in series])
    t0 = time.monotonic()

    def start(k: int, left: float) -> Any:
        p = ctx.Process(target=_worker, args=(*args, left, seed * 1000 + k, queue))
        p.start()
        return p

    procs = [start(k, seconds) for k in range(processes)]
    rng = random.Random(seed)
    spawned = processes
    if kill_every:
        while (left := seconds - (time.monotonic() - t0)) > kill_every:
            time.sleep(kill_every)
            living = [k for k, p in enumerate(procs) if p.is_alive()]
            if not living:
                break
            victim = rng.choice(living)
            try:
                os.kill(procs[victim].pid, signal.SIGKILL)
            except ProcessLookupError:  # it ended on its own meanwhile: its result counts
                continue
            procs[victim].join()
            result.kills += 1
            procs[victim] = start(spawned, max(1.0, left - kill_every))
            spawned += 1
    alive = len(procs)
    for _ in range(alive):
        ops, errors = queue.get(timeout=seconds + 600)
        result.ops.update(ops)
        result.errors += errors
    for p in procs:
        p.join(60)
    result.seconds = time.monotonic() - t0
    return result


def check(url: str, root: Path) -> list[str]:
    """The invariants after a soak; returns what does not hold (empty: all hold)."""
    import sqlalchemy as sa

    from nora_lab.archive import Archive, _db
    from nora_lab.archive import _schema as t
    from nora_lab.archive.dicom._tables import dicom_instances as di
    from nora_lab.archive.fsck import fsck

    broken = []
    arc = Archive.open(url, root=root, user="alice")
    for name in ("soak", "soakp"):
        proj = arc.project(name)
        fsck(proj, repair=True)
        after = fsck(proj)
        if not after.ok:
            broken.append(f"fsck of {name} after repair:\n{after}")
    with _db.read(arc.engine) as conn:
        dup_pseudonyms = conn.execute(
            sa.select(t.identities.c.real_id, sa.func.count()).group_by(
                t.identities.c.project_id, t.identities.c.real_id)
            .having(sa.func.count() > 1)).all()
        if dup_pseudonyms:
            broken.append(f"real IDs with several pseudonyms: {dup_pseudonyms}")
        places = conn.execute(
            sa.select(di.c.series_uid, sa.func.count(sa.distinct(di.c.study)))
            .group_by(di.c.series_uid).having(sa.func.count(sa.distinct(di.c.study)) > 1)).all()
        if places:
            broken.append(f"series filed in several studies: {places}")
        orphans = conn.execute(
            sa.select(di.c.sop_uid, di.c.series_folder).where(~sa.exists().where(
                t.files.c.study == di.c.study, t.files.c.series == di.c.series_folder))).all()
        if orphans:
            broken.append(f"recorded instances whose series folder has no file: {orphans}")
    arc.close()
    return broken

"""Auto-execution: run a project's named batch on every newly imported study.

:func:`on_study_imported` is the DICOM importer's hook, declared in the entry-point group
``nora_lab.study_imported`` (``pyproject.toml``), so the archive calls it without importing this
layer. For a project whose ``autoexec`` names a saved batch, each imported study is then queued
(NORA's CLI rule holds: an import from ``nora --import`` starts auto-execution only with
``--autoexec_queue``). With the default ``autoexec.mode: detached`` the hook appends the PSID to
``<log root>/<project>/_autoexec/pending`` and starts a background
``nora -p P --launch_autoexec`` that drains that file — one drainer per project at a time,
launching the studies that arrived together as one run — so an import is never slowed by the
batch. ``mode: inline`` launches and waits inside the importing process.

``nora -p P --launch_autoexec PSID ...`` runs the autoexec batch on given studies now.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nora_lab.batch.batch import Batch
from nora_lab.batch.config import settings
from nora_lab.errors import BatchError, NoraError

if TYPE_CHECKING:
    from nora_lab.archive import Project
    from nora_lab.batch.run import BatchRun

__all__ = ["on_study_imported", "launch_autoexec", "drain", "spool_folder"]


def _import_options() -> dict[str, Any] | None:
    try:
        from nora_lab.archive.dicom.importer import import_options
    except ImportError:
        return None
    return import_options.get()


def spool_folder(project: Project) -> Path:
    """``<log root>/<project>/_autoexec``: the pending list, the drainer's lock and log."""
    from nora_lab.batch.submit import log_folder

    return log_folder(settings(), project, "_autoexec")


def launch_autoexec(project: Project, psids: Sequence[str], *, queue: str | None = None,
                    wait: bool = True, **options: Any) -> BatchRun:
    """Launch the project's autoexec batch on ``psids`` (on ``queue``, default the settings')."""
    from nora_lab.batch.submit import launch

    name = project.autoexec
    if not name:
        raise BatchError(f"project {project.name!r} names no autoexec batch "
                         "(set project.autoexec = '<saved batch name>')")
    batch = Batch.load(project, name)
    queue = queue or settings().get("autoexec", {}).get("queue")
    if queue:
        batch = replace(batch, resources={**batch.resources, "queue": queue})
    return launch(batch, project, list(psids), wait=wait, progress=False, **options)


def on_study_imported(project: Project, psid: str) -> None:
    """The importer's hook: queue the project's autoexec batch for a new study."""
    opts = _import_options()
    if opts is not None and not opts.get("autoexec_queue"):
        return  # `nora --import` without --autoexec_queue: no auto-execution (as NORA)
    if not project.autoexec:
        return
    queue = opts.get("autoexec_queue") if opts else None
    queue = None if queue == "DEFAULT" else queue
    if settings()["autoexec"].get("mode", "detached") == "inline":
        launch_autoexec(project, [psid], queue=queue, wait=True)
        return
    folder = spool_folder(project)
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / "pending.lock"), open(folder / "pending", "a") as fh:
        fh.write(f"{queue or ''}\t{psid}\n")
    _spawn_drainer(project, folder)


def _spawn_drainer(project: Project, folder: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(NORA_DB=project.archive.engine.url.render_as_string(hide_password=False),
               NORA_ROOT=str(project.archive.root), NORA_USER=project.archive.user)
    from nora_lab import config as nora_config

    env["NORA_HOME"] = str(nora_config.nora_home())
    with open(folder / "drainer.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "nora_lab.cli", "-p", project.name, "--launch_autoexec"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True)


@contextlib.contextmanager
def _locked(path: Path, *, block: bool = True) -> Iterator[bool]:
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _take(folder: Path) -> list[tuple[str, str]]:
    """Read and empty the pending list."""
    with _locked(folder / "pending.lock"):
        path = folder / "pending"
        if not path.exists():
            return []
        lines = path.read_text().splitlines()
        path.write_text("")
    out = []
    for line in lines:
        queue, _, psid = line.partition("\t")
        if psid:
            out.append((queue, psid))
    return list(dict.fromkeys(out))


def drain(project: Project) -> int:
    """Launch the pending auto-executions until none are left; returns how many studies.

    Only one drainer per project runs at a time (a lock file); a second returns 0.
    """
    folder = spool_folder(project)
    folder.mkdir(parents=True, exist_ok=True)
    done = 0
    while True:
        with _locked(folder / "drainer.lock", block=False) as got:
            if not got:
                return done
            while items := _take(folder):
                for queue in dict.fromkeys(q for q, _ in items):
                    psids = [p for q, p in items if q == queue]
                    try:
                        run = launch_autoexec(project, psids, queue=queue or None, wait=True)
                        print(f"autoexec {project.autoexec!r} on {len(psids)} studies: "
                              f"{run.counts()}", flush=True)
                    except NoraError as exc:
                        print(f"autoexec on {', '.join(psids)} failed: {exc}", flush=True)
                    done += len(psids)
        pending = folder / "pending"
        if not (pending.exists() and pending.stat().st_size):
            return done  # (items that arrive now start their own drainer)

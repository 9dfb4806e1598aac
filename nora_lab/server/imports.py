"""REST import jobs: one folder per job, one worker process per running import.

A job folder ``<import_dir>/<id>/`` holds ``request.json`` (who, which project, options),
``state.json`` (what the poller reads; always replaced whole: temp name, then rename),
the upload while it waits, and ``worker.log``. The worker is
``python -m nora_lab.server.imports --serve <idle seconds>``: it imports the import
machinery, then waits on stdin for a job folder, opens the archive as the job's user and
calls :func:`~nora_lab.archive.dicom.import_dicom` — so the archive's rights hold for the
import as for any other call, and the server stays responsive meanwhile. One job per
process. A worker is started when an upload begins (its 1–2 s of imports overlap the
upload and the checks), and whenever one takes a job the next one starts loading, to wait
``warm_seconds`` (0: never) for the next upload: imports sent one after another start at
once.

States: ``queued`` → ``running`` → ``done`` | ``failed``. A worker that dies without
saying so is reported ``failed`` with the tail of its log.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

from nora_lab.errors import NotFoundError

__all__ = ["ImportJobs", "read_state", "FINAL_STATES"]

FINAL_STATES = ("done", "failed")
_ID_CHARS = set("0123456789abcdef")


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)


def read_state(job_dir: Path) -> dict[str, Any]:
    """The job's ``state.json``."""
    return json.loads((job_dir / "state.json").read_text())


def _update(job_dir: Path, **changes: Any) -> dict[str, Any]:
    state = read_state(job_dir)
    state.update(changes)
    _write_json(job_dir / "state.json", state)
    return state


class ImportJobs:
    """The import jobs of one server.

    Parameters
    ----------
    root
        Folder holding one sub-folder per job (created 0700).
    location, storage_root
        The archive to open in the worker (None: ``$NORA_DB`` / ``$NORA_HOME``, and the
        root recorded in the archive or ``$NORA_ROOT``).
    concurrency
        Imports that run at once; the others wait in ``queued``.
    """

    def __init__(self, root: Path, *, location: str | None = None,
                 storage_root: str | None = None, concurrency: int = 1,
                 warm_seconds: float = 600) -> None:
        self.root = Path(root)
        self.location = location
        self.storage_root = storage_root
        self.warm_seconds = warm_seconds
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._tasks: set[asyncio.Task] = set()
        self._warm: asyncio.Task | None = None

    # --- creating ---------------------------------------------------------------------
    def new_job(self, user: str, project: str, options: dict[str, Any]) -> tuple[str, Path]:
        """A new job folder (state ``receiving``) for ``user``'s upload into ``project``."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        job_id = uuid.uuid4().hex
        job_dir = self.root / job_id
        job_dir.mkdir(mode=0o700)
        now = time.time()
        _write_json(job_dir / "request.json", {
            "id": job_id, "user": user, "project": project, "options": options,
            "location": self.location, "root": self.storage_root})
        _write_json(job_dir / "state.json", {
            "id": job_id, "user": user, "project": project, "state": "receiving",
            "created": now, "started": None, "finished": None, "message": "",
            "studies": [], "files": [], "series": [], "skipped": 0})
        return job_id, job_dir

    def discard(self, job_dir: Path) -> None:
        """Remove a job whose upload was refused (nothing else was written)."""
        shutil.rmtree(job_dir, ignore_errors=True)

    def start(self, job_dir: Path, upload: Path, checked: dict[str, Any]) -> dict[str, Any]:
        """Queue a checked upload for import; returns the job's state."""
        state = _update(job_dir, state="queued", upload=upload.name, checked=checked)
        task = asyncio.ensure_future(self._run(job_dir))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return state

    # --- reading ----------------------------------------------------------------------
    def state(self, job_id: str, user: str) -> dict[str, Any]:
        """The state of ``user``'s job ``job_id``.

        Raises
        ------
        NotFoundError
            If there is no such job *or* it belongs to another user.
        """
        job_dir = self.root / job_id
        if not job_id or not set(job_id) <= _ID_CHARS or not (job_dir / "state.json").exists():
            raise NotFoundError(f"no import job {job_id!r}")
        state = read_state(job_dir)
        if state.get("user") != user:
            raise NotFoundError(f"no import job {job_id!r}")
        return state

    def jobs(self, user: str) -> list[dict[str, Any]]:
        """``user``'s jobs, newest first."""
        out = []
        if self.root.is_dir():
            for d in self.root.iterdir():
                try:
                    s = read_state(d)
                except (OSError, ValueError):
                    continue
                if s.get("user") == user:
                    out.append(s)
        return sorted(out, key=lambda s: s.get("created") or 0, reverse=True)

    async def wait_all(self) -> None:
        """Wait for every running and queued import (server shutdown, tests)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- running ----------------------------------------------------------------------
    def prewarm(self) -> None:
        """Start a worker now, so that it is ready when the next job comes."""
        if self.warm_seconds > 0 and self._warm is None:
            self._warm = asyncio.ensure_future(self._spawn(self.warm_seconds))

    async def _spawn(self, idle: float) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "nora_lab.server.imports", "--serve", str(idle),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True)

    async def _worker_for(self, job_dir: Path) -> asyncio.subprocess.Process:
        """A waiting worker handed ``job_dir``, else a new one; the next one starts now."""
        task, self._warm = self._warm, None
        self.prewarm()  # loads while this job runs: uploads in a row never wait for imports
        if task is not None:
            try:
                proc = await task
                if proc.returncode is None and proc.stdin is not None:
                    proc.stdin.write(f"{job_dir}\n".encode())
                    await proc.stdin.drain()
                    proc.stdin.close()
                    return proc
            except (OSError, RuntimeError):  # it died meanwhile: start another
                pass
        proc = await self._spawn(0)
        assert proc.stdin is not None
        proc.stdin.write(f"{job_dir}\n".encode())
        await proc.stdin.drain()
        proc.stdin.close()
        return proc

    async def _run(self, job_dir: Path) -> None:
        code = None
        async with self._slots:
            try:
                proc = await self._worker_for(job_dir)
                _update(job_dir, pid=proc.pid)
                code = await proc.wait()
            except Exception as exc:  # noqa: BLE001 - any failure to start is the job's state
                _update(job_dir, state="failed", finished=time.time(),
                        message=f"the import worker could not start: {exc}")
        state = read_state(job_dir)
        if state["state"] not in FINAL_STATES:
            log = job_dir / "worker.log"
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            _update(job_dir, state="failed", finished=time.time(),
                    message=f"the import worker ended (exit {code}) without a result: {tail}")
        upload = job_dir / state.get("upload", "upload.zip")
        upload.unlink(missing_ok=True)


def _worker(job_dir: Path) -> int:
    """Run one job (in its own process); the result goes to ``state.json``.

    The upload is removed before the final state is written, so a poller that sees
    ``done`` or ``failed`` sees the job finished.
    """
    req = json.loads((job_dir / "request.json").read_text())
    state = _update(job_dir, state="running", started=time.time())
    upload = job_dir / state.get("upload", "upload.zip")
    try:
        from nora_lab.archive import Archive
        from nora_lab.archive.dicom import import_dicom

        opts = req.get("options") or {}
        with Archive.open(req.get("location"), root=req.get("root"), user=req["user"]) as arc:
            project = arc.project(req["project"])
            if opts.get("kind") in ("bids", "nifti"):
                result = _import_other(project, upload, job_dir, opts)
            else:
                report = import_dicom(project, upload, patients_id=opts.get("patients_id"),
                                      studies_id=opts.get("studies_id"), progress=False)
                result = dict(
                    state="done", ok=report.ok, message=report.summary(),
                    studies=list(report.studies), files=report.files(),
                    series=[{"psid": s.psid, "series": s.series_folder, "status": s.status,
                             "problems": s.problems} for s in report.series],
                    skipped=len(report.skipped),
                    skipped_files=[{"path": os.path.basename(k.path), "reason": k.reason}
                                   for k in report.skipped[:50]])
    except Exception as exc:  # noqa: BLE001 - the poller gets the reason
        result = dict(state="failed", message=f"{type(exc).__name__}: {exc}")
    finally:
        upload.unlink(missing_ok=True)
    _update(job_dir, finished=time.time(), **result)
    return 0 if result["state"] == "done" else 1


def _import_other(project: Any, upload: Path, job_dir: Path, opts: dict[str, Any]
                  ) -> dict[str, Any]:
    """A BIDS zip (:func:`~nora_lab.archive.bids.import_bids`) or one NIfTI file (into the
    subject ``patients_id``, study ``studies_id`` or ``upload``); the job's final state."""
    if opts["kind"] == "nifti":
        subject = project.add_subject(opts["patients_id"])
        psid = project.add_study(subject, opts.get("studies_id") or "upload")
        project.add_file(upload, psid, opts["name"], move=True)
        return dict(state="done", ok=True, studies=[psid], files=[f"{psid}/{opts['name']}"],
                    message=f"{opts['name']} filed into {psid}", series=[], skipped=0,
                    skipped_files=[])
    from nora_lab.archive.bids import import_bids

    dest = job_dir / "bids"
    with zipfile.ZipFile(upload) as zf:
        zf.extractall(dest)  # members were checked: no absolute path, no "..", no link
    root = next(p.parent for p in sorted(dest.rglob("dataset_description.json"),
                                         key=lambda p: len(p.parts)))
    try:
        done = import_bids(project, root)
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    table = done.table
    return dict(state="done", ok=True, studies=sorted(set(table.psid)),
                files=[f"{p}/{r}" for p, r in zip(table.psid, table.relpath, strict=True)],
                message=str(done), series=[], skipped=0, skipped_files=[])


def _serve(idle: float) -> int:
    """A worker process: import the machinery, wait for one job folder on stdin, run it."""
    import select

    warm_error = None
    try:
        import nora_lab.archive  # noqa: F401 - the slow imports, done before the job comes
        import nora_lab.archive.dicom.importer  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - reported in the job's state below
        warm_error = exc
    if idle > 0 and not select.select([sys.stdin], [], [], idle)[0]:
        return 0  # nobody came
    line = sys.stdin.readline().strip()
    if not line:
        return 0  # the server went away
    job_dir = Path(line)
    fd = os.open(job_dir / "worker.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    if warm_error is not None:
        _update(job_dir, state="failed", finished=time.time(),
                message=f"the import worker could not load nora_lab: {warm_error}")
        return 1
    return _worker(job_dir)


if __name__ == "__main__":
    if sys.argv[1] == "--serve":
        sys.exit(_serve(float(sys.argv[2])))
    sys.exit(_worker(Path(sys.argv[1])))

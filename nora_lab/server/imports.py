"""REST import jobs: one folder per job, one worker process per running import.

A job folder ``<import_dir>/<id>/`` holds ``request.json`` (who, which project, options),
``state.json`` (what the poller reads; always replaced whole: temp name, then rename),
the upload while it waits, and ``worker.log``. The worker is
``python -m nora_lab.server.imports <job folder>``: it opens the archive as the job's
user and calls :func:`~nora_lab.archive.dicom.import_dicom`, so the archive's rights
hold for the import as for any other call; the server stays responsive meanwhile.

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
                 storage_root: str | None = None, concurrency: int = 1) -> None:
        self.root = Path(root)
        self.location = location
        self.storage_root = storage_root
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._tasks: set[asyncio.Task] = set()

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
    async def _run(self, job_dir: Path) -> None:
        async with self._slots:
            log = open(job_dir / "worker.log", "wb")
            try:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "nora_lab.server.imports", str(job_dir),
                    stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log)
                _update(job_dir, pid=proc.pid)
                code = await proc.wait()
            except Exception as exc:  # noqa: BLE001 - any failure to start is the job's state
                code = None
                _update(job_dir, state="failed", finished=time.time(),
                        message=f"the import worker could not start: {exc}")
            finally:
                log.close()
        state = read_state(job_dir)
        if state["state"] not in FINAL_STATES:
            tail = (job_dir / "worker.log").read_text(errors="replace")[-1500:]
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
            report = import_dicom(arc.project(req["project"]), upload,
                                  patients_id=opts.get("patients_id"),
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


if __name__ == "__main__":
    sys.exit(_worker(Path(sys.argv[1])))

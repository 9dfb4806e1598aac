"""The hub side: batchspawner's SlurmSpawner with a checked options form.

The user picks partition, cores, memory and walltime. The answers become the batch
script's ``{{partition}}``, ``{{nprocs}}``, ``{{memory}}`` and ``{{runtime}}`` — after
:func:`check_options`, which refuses anything outside the lists and limits the admin set.
The same check runs when a spawn comes through the hub's REST API
(``POST /hub/api/users/<name>/server`` with a JSON body), which skips the form.

Loaded only by ``jupyterhub_config.py`` (it imports batchspawner).
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import subprocess
import time
from typing import Any

from batchspawner import JobStatus, SlurmSpawner
from traitlets import Integer, List, Unicode, default

from nora_lab.errors import ConfigError

__all__ = ["NoraSlurmSpawner", "check_options", "walltime_seconds", "memory_mb",
           "slurm_partitions"]

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([MG])?i?B?\s*$", re.IGNORECASE)
_WALLTIME = re.compile(r"^\s*(?:(\d+)-)?(\d{1,3}):(\d{2})(?::(\d{2}))?\s*$")
_PARTITION = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_ALIASES = {"cores": "nprocs", "cpus": "nprocs", "mem": "memory", "walltime": "runtime",
            "time": "runtime", "queue": "partition"}


def memory_mb(text: str) -> int:
    """``"4G"`` → 4096, ``"500M"`` → 500 (a bare number is GB)."""
    m = _MEMORY.match(str(text))
    if not m:
        raise ConfigError(f"memory {text!r}: write it like 4G or 500M")
    value, unit = float(m.group(1)), (m.group(2) or "G").upper()
    return int(value * 1024) if unit == "G" else int(value)


def walltime_seconds(text: str) -> int:
    """Slurm's ``[D-]HH:MM[:SS]`` → seconds."""
    m = _WALLTIME.match(str(text))
    if not m:
        raise ConfigError(f"walltime {text!r}: write it like 08:00:00 or 1-00:00:00")
    days, hours, minutes, seconds = (int(g or 0) for g in m.groups())
    if minutes > 59 or seconds > 59:
        raise ConfigError(f"walltime {text!r}: minutes and seconds go up to 59")
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def _hms(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text


def check_options(options: dict[str, Any], *, partitions: list[str], max_cores: int,
                  max_memory_mb: int, max_walltime: str) -> dict[str, str]:
    """The batch-script values for a user's choices, or ConfigError saying what is wrong.

    Accepts ``partition``, ``nprocs`` (or ``cores``), ``memory`` and ``runtime`` (or
    ``walltime``); values may be one-element lists, as a form sends them. Keys left out
    keep the admin's defaults.
    """
    out: dict[str, str] = {}
    for key, value in (options or {}).items():
        key = _ALIASES.get(key, key)
        if isinstance(value, list):
            value = value[0] if len(value) == 1 else value
        if value in (None, ""):
            continue
        value = str(value).strip()
        if key == "partition":
            if not _PARTITION.match(value) or (partitions and value not in partitions):
                raise ConfigError(f"partition {value!r} is not offered; choose one of "
                                  f"{', '.join(partitions) or '(the default)'}")
            out["partition"] = value
        elif key == "nprocs":
            if not value.isdigit() or not 1 <= int(value) <= max_cores:
                raise ConfigError(f"cores {value!r}: choose a whole number from 1 to {max_cores}")
            out["nprocs"] = str(int(value))
        elif key == "memory":
            mb = memory_mb(value)
            if not 1 <= mb <= max_memory_mb:
                raise ConfigError(f"memory {value!r}: at most {max_memory_mb // 1024}G")
            out["memory"] = f"{mb // 1024}G" if mb % 1024 == 0 else f"{mb}M"
        elif key == "runtime":
            secs = walltime_seconds(value)
            if not 60 <= secs <= walltime_seconds(max_walltime):
                raise ConfigError(f"walltime {value!r}: from 00:01:00 to {max_walltime}")
            out["runtime"] = _hms(secs)
        else:
            raise ConfigError(f"unknown spawn option {key!r}; the options are partition, "
                              "cores, memory and walltime")
    return out


def slurm_partitions(env: dict[str, str] | None = None) -> list[str]:
    """The partitions ``sinfo`` lists (default partition first), or [] if it cannot tell."""
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True,
                             timeout=10, env=env or os.environ.copy()).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    names = [p.strip() for p in out.split() if p.strip()]
    first = [p.rstrip("*") for p in names if p.endswith("*")]
    return first + [p for p in names if not p.endswith("*") and p not in first]


def _apply_checked(spawner: NoraSlurmSpawner, options: dict[str, Any]) -> None:
    from tornado import web

    try:
        spawner.user_options = spawner.checked(options or {})
    except ConfigError as exc:
        raise web.HTTPError(400, str(exc)) from None


class NoraSlurmSpawner(SlurmSpawner):
    """SlurmSpawner whose options form offers partition, cores, memory and walltime."""

    partitions = List(Unicode(), help="Partitions offered (the first is preselected); "
                      "empty: those sinfo lists").tag(config=True)
    max_cores = Integer(8, help="Most cores a lab may ask for").tag(config=True)
    max_memory = Unicode("64G", help="Most memory a lab may ask for").tag(config=True)
    max_walltime = Unicode("7-00:00:00", help="Longest walltime a lab may ask for"
                           ).tag(config=True)

    @default("options_form")
    def _options_form_default(self) -> Any:
        return self._render_form

    @default("apply_user_options")
    def _apply_user_options_default(self) -> Any:
        return _apply_checked  # JupyterHub >= 5.3: a refusal is the REST API's 400

    def offered_partitions(self) -> list[str]:
        return list(self.partitions) or slurm_partitions(self.get_env())

    def _render_form(self, spawner: Any = None) -> str:
        parts = self.offered_partitions()
        chosen = self.req_partition or (parts[0] if parts else "")
        options = "".join(
            f'<option value="{html.escape(p)}"{" selected" if p == chosen else ""}>'
            f"{html.escape(p)}</option>" for p in parts)
        part_field = (f'<label for="nora-partition">Partition</label>'
                      f'<select class="form-control" id="nora-partition" name="partition">'
                      f"{options}</select>") if parts else ""
        e = html.escape
        return (
            f"{part_field}"
            f'<label for="nora-cores">Cores</label>'
            f'<input class="form-control" id="nora-cores" name="cores" type="number" min="1" '
            f'max="{self.max_cores}" value="{e(self.req_nprocs or "1")}">'
            f'<label for="nora-memory">Memory (e.g. 4G, at most {e(self.max_memory)})</label>'
            f'<input class="form-control" id="nora-memory" name="memory" '
            f'value="{e(self.req_memory or "4G")}">'
            f'<label for="nora-walltime">Walltime ([D-]HH:MM:SS, at most '
            f'{e(self.max_walltime)})</label>'
            f'<input class="form-control" id="nora-walltime" name="walltime" '
            f'value="{e(self.req_runtime or "08:00:00")}">')

    def checked(self, options: dict[str, Any]) -> dict[str, str]:
        return check_options(options, partitions=self.offered_partitions(),
                             max_cores=self.max_cores, max_memory_mb=memory_mb(self.max_memory),
                             max_walltime=self.max_walltime)

    def options_from_form(self, formdata: dict[str, list[str]]) -> dict[str, str]:
        return self.checked(formdata)

    async def start(self) -> Any:
        # the REST API hands user_options over unchecked: check them (again) here too
        self.user_options = self.checked(self.user_options or {})
        ip, port = await super().start()
        await self._until_listening(ip, port)
        return ip, port

    async def _until_listening(self, ip: str, port: int) -> None:
        """Return once the lab accepts connections (checked every 0.1 s).

        batchspawner returns as soon as the job reports its port, seconds before the lab
        listens; the hub then checks with growing pauses (0.2, 0.4, 0.8, 1.6 s …) and
        notices a ready lab up to seconds late. A job that ends meanwhile is an error
        that names its log.
        """
        deadline = time.monotonic() + self.http_timeout
        next_status = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), 2)
                writer.close()
                return
            except (TimeoutError, OSError):
                pass
            if time.monotonic() > next_status:
                next_status = time.monotonic() + 2
                if await self.query_job_status() not in (JobStatus.RUNNING, JobStatus.UNKNOWN):
                    raise RuntimeError(
                        f"the lab's Slurm job {self.job_id} ended while starting; see "
                        f"{self.req_homedir}/.nora-lab-{self.job_id}.log")
            await asyncio.sleep(0.1)
        # not listening yet: the hub's own check (http_timeout) decides and reports

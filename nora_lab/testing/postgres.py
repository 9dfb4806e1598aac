"""A throw-away PostgreSQL server (Debian's ``postgresql`` package) on a free port."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

__all__ = ["PostgresServer", "ServiceError", "free_port", "find_pg_bin"]


class ServiceError(RuntimeError):
    """A real service needed by the tests could not be started."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_pg_bin() -> Path:
    """The folder of ``initdb``/``pg_ctl`` (Debian keeps them out of PATH)."""
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(cand, "initdb").exists():
            return Path(cand)
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise ServiceError(
        "PostgreSQL is not installed (no initdb found): run `make services` "
        "(apt-get install postgresql) before the tests")


class PostgresServer:
    """Start PostgreSQL in a temporary data directory, as the ``postgres`` user when root.

    Parameters
    ----------
    base
        Where the data directory and socket go (default: a new temp dir).
    port
        TCP port on 127.0.0.1 (default: a free one).

    Examples
    --------
    >>> with PostgresServer() as pg:              # doctest: +SKIP
    ...     url = pg.create_database("t1")
    """

    def __init__(self, base: Path | None = None, port: int | None = None) -> None:
        self.base = Path(base or tempfile.mkdtemp(prefix="nora-pg-"))
        self.port = port or free_port()
        self.data = self.base / "data"
        self.sock = self.base / "sock"
        self.log = self.base / "postgres.log"
        self.bin = find_pg_bin()
        self._as_postgres = os.geteuid() == 0
        self.pid: int | None = None

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = list(args)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True)

    def start(self, timeout: float = 60) -> PostgresServer:
        self.base.mkdir(parents=True, exist_ok=True)
        self.sock.mkdir(exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.base, "postgres")
            shutil.chown(self.sock, "postgres")
            self.base.chmod(0o755)
        if not (self.data / "PG_VERSION").exists():
            r = self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                          "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8")
            if r.returncode:
                raise ServiceError(f"initdb failed in {self.data}:\n{r.stdout}\n{r.stderr}")
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sock} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200 -c shared_buffers=256MB")
        r = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                      "-o", opts, "-w", "-t", str(int(timeout)), "start")
        if r.returncode:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise ServiceError(f"PostgreSQL did not start on port {self.port}:\n{r.stderr}\n{tail}")
        pidfile = self.data / "postmaster.pid"
        self.pid = int(pidfile.read_text().split()[0])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        raise ServiceError(f"PostgreSQL (pid {self.pid}) does not accept connections on {self.port}")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database; return its SQLAlchemy URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.pid is None:
            return
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self.pid = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

"""A throw-away PostgreSQL server (Debian's ``postgresql`` package) on a free port,
set up as a lab's: peer authentication over the local socket, passwords (SCRAM) over TCP,
no ``trust``; databases owned by an administrator role that is no superuser, and one
login role per lab user (made by the archive when its administrator adds a user)."""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

__all__ = ["PostgresServer", "ServiceError", "free_port", "find_pg_bin", "ADMIN_ROLE"]

#: The archives' administrator role (owner of each test database; CREATEROLE, no superuser)
ADMIN_ROLE = "nora_admin"


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
        self._super_pw = secrets.token_urlsafe(16)
        self._admin_pw = secrets.token_urlsafe(16)

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
            pwfile = self.base / "superuser.pw"
            pwfile.write_text(self._super_pw + "\n")
            if self._as_postgres:
                shutil.chown(pwfile, "postgres")
            # as a lab's server: peer over the local socket, a password over TCP, no trust
            r = self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                          "--auth-local=peer", "--auth-host=scram-sha-256",
                          f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C.UTF-8")
            pwfile.unlink()
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
                    self._make_admin_role()
                    return self
            time.sleep(0.1)
        raise ServiceError(f"PostgreSQL (pid {self.pid}) does not accept connections on {self.port}")

    def _superuser(self, dbname: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                               password=self._super_pw, dbname=dbname, autocommit=True)

    def _make_admin_role(self) -> None:
        """The archives' administrator role: owns what it creates, may create the users'
        roles, is no superuser."""
        with self._superuser() as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                                (ADMIN_ROLE,)).fetchone():
                conn.execute(f"CREATE ROLE {ADMIN_ROLE} LOGIN CREATEROLE PASSWORD "
                             f"'{self._admin_pw}'")

    @property
    def url(self) -> str:
        """The administrator role's URL for the maintenance database (no superuser)."""
        return f"postgresql://{ADMIN_ROLE}:{self._admin_pw}@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database owned by the administrator role; return its URL
        (connecting as that role, with its password)."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with self._superuser() as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER {ADMIN_ROLE} TEMPLATE template0')
        with self._superuser(name) as conn:  # the schema belongs to the administrator
            conn.execute(f"ALTER SCHEMA public OWNER TO {ADMIN_ROLE}")
        return f"postgresql://{ADMIN_ROLE}:{self._admin_pw}@127.0.0.1:{self.port}/{name}"

    def login_url(self, url: str, role: str) -> str:
        """A URL logging in as ``role`` itself (a lab user's own credential): the role
        gets a fresh password, set by the administrator role."""
        import psycopg
        import sqlalchemy as sa

        u = sa.make_url(url)
        password = secrets.token_urlsafe(16)
        with psycopg.connect(host=u.host, port=u.port, user=u.username, password=u.password,
                             dbname=u.database, autocommit=True) as conn:
            conn.execute(f'ALTER ROLE "{role}" LOGIN PASSWORD \'{password}\'')
        return u.set(username=role, password=password).render_as_string(hide_password=False)

    @property
    def socket_dir(self) -> Path:
        """Where the local socket is: ``postgresql:///db?host=<socket_dir>`` logs in by
        peer authentication as the OS user running the client."""
        return self.sock

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

"""A lab user's own PostgreSQL password, in their own ``~/.pgpass``.

Where a lab and the database share a host, PostgreSQL's peer authentication needs no
secret at all. Across cluster nodes a user needs a credential that only they can read:
the administrator's tool (as root) gives the user's role a fresh random password and
writes it into the user's ``~/.pgpass`` (mode ``0600``, owned by the user), which libpq
reads whenever that user connects. The password never appears in a URL, an environment
variable or a Slurm job. See docs/deploy.md ("Threat model").
"""

from __future__ import annotations

import os
import pwd
import tempfile
from pathlib import Path

from nora_lab.errors import ConfigError, PermissionDenied

__all__ = ["write_entry", "entry_line"]


def _escape(field: str) -> str:
    return field.replace("\\", "\\\\").replace(":", "\\:")


def entry_line(host: str, port: int, database: str, role: str, password: str) -> str:
    """One ``~/.pgpass`` line (``host:port:database:role:password``, ``:`` escaped)."""
    return ":".join(_escape(str(f)) for f in (host, port, database, role, password))


def write_entry(account: str, host: str, port: int, database: str, role: str,
                password: str) -> Path:
    """Put the line for ``host:port:database:role`` into ``account``'s ``~/.pgpass``.

    An earlier line for the same server, database and role is replaced; other lines are
    kept. The file is written under a temporary name and renamed, mode ``0600``, owned by
    ``account`` (writing another account's file needs root).

    Returns
    -------
    Path
        The ``.pgpass`` file.

    Raises
    ------
    ConfigError
        ``account`` is no OS account, or has no home folder.
    PermissionDenied
        Not root, and ``account`` is not the account running this process.
    """
    try:
        pw = pwd.getpwnam(account)
    except KeyError:
        raise ConfigError(f"{account!r} is not an account on this host: a ~/.pgpass needs one "
                          "(create the Linux user first)") from None
    if os.geteuid() not in (0, pw.pw_uid):
        raise PermissionDenied(f"writing {account}'s ~/.pgpass needs root (run the admin "
                               "tool with sudo)")
    home = Path(pw.pw_dir)
    if not home.is_dir():
        raise ConfigError(f"{account}'s home folder {home} does not exist: cannot write "
                          "their ~/.pgpass")
    path = home / ".pgpass"
    key = ":".join(_escape(str(f)) for f in (host, port, database, role)) + ":"
    lines = path.read_text().splitlines() if path.exists() else []
    kept = [line for line in lines if not line.startswith(key)]
    kept.append(entry_line(host, port, database, role, password))
    fd, tmp = tempfile.mkstemp(prefix=".pgpass.", dir=home)
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            if os.geteuid() == 0:
                os.fchown(f.fileno(), pw.pw_uid, pw.pw_gid)
            f.write("\n".join(kept) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

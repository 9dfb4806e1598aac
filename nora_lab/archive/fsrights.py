"""The file system mirrors the rights: a Unix group pair per project and POSIX ACLs.

A shared archive's files are read and written by each user's own processes (their
JupyterLab, their Slurm jobs), so the operating system must refuse what the database
refuses. For a project ``P`` (storage folder ``<root>/P``):

* two groups, ``nora-P-r`` (readers) and ``nora-P-w`` (editors); a user with the
  ``reader`` right is in the first, ``editor`` and ``admin`` in both;
* the project folder has mode ``2770`` (setgid) and the ACL
  ``group:nora-P-r:r-X, group:nora-P-w:rwX, other:---``, as its *default* ACL too, so that
  every file and folder made inside inherits it (whatever the writer's umask: with a
  default ACL the kernel ignores the umask);
* readers read, editors change any file of the project (as the archive lets them),
  users without a right cannot even list it.

:func:`sync` makes a project's groups, memberships and ACLs match the ``rights`` table;
it runs as root (``groupadd``, ``gpasswd``, ``setfacl``): ``nora --grant`` and
``nora --adduser`` call it when run as root, an admin runs it otherwise
(``sudo nora -p P --fs-sync``). Group changes take effect in processes started after
them (a user's next JupyterLab or job).
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from nora_lab.errors import ConfigError, PermissionDenied

__all__ = ["group_names", "sync", "can_sync", "is_synced", "SYNC_COMMAND"]

SYNC_COMMAND = "sudo nora -p {project} --fs-sync"
_SAFE = re.compile(r"[^a-z0-9_-]+")


def group_names(project: str) -> tuple[str, str]:
    """``(readers' group, editors' group)`` of a project (Linux limits names to 32 chars)."""
    slug = _SAFE.sub("-", project.lower()).strip("-") or "p"
    if len(slug) > 20 or slug != project.lower():
        slug = f"{slug[:12]}-{hashlib.sha1(project.encode()).hexdigest()[:6]}"
    return f"nora-{slug}-r", f"nora-{slug}-w"


def can_sync() -> bool:
    """True when this process may change groups and ACLs (root, with setfacl installed)."""
    return os.geteuid() == 0 and shutil.which("setfacl") is not None


def is_synced(folder: Path, project: str) -> bool:
    """Has :func:`sync` set this project folder up (its group is the editors' group)?"""
    try:
        return grp.getgrgid(Path(folder).stat().st_gid).gr_name == group_names(project)[1]
    except (KeyError, OSError):
        return False


def _run(*cmd: str) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise PermissionDenied(f"{' '.join(cmd)} failed: {(r.stderr or r.stdout).strip()}")


def _members(group: str) -> set[str]:
    try:
        return set(grp.getgrnam(group).gr_mem)
    except KeyError:
        return set()


def sync(folder: Path, project: str, rights: dict[str, str]) -> dict[str, Any]:
    """Make the groups, memberships and ACLs of a project folder match its rights.

    Parameters
    ----------
    folder
        The project's storage folder.
    project
        The project's name (names its groups).
    rights
        User → ``"reader"``, ``"editor"`` or ``"admin"``; users not listed lose their
        membership. Users without a Linux account are skipped (and listed).

    Returns
    -------
    dict
        ``groups``, ``readers``, ``editors`` and ``skipped`` (names without an account).

    Raises
    ------
    PermissionDenied
        Not root, or a system command failed (its message is quoted).
    """
    if not can_sync():
        raise PermissionDenied(
            f"the file-system rights of project {project!r} are changed as root (groups "
            f"and ACLs): run `{SYNC_COMMAND.format(project=project)}`"
            + ("" if shutil.which("setfacl") else " (and install Debian's acl package)"))
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: the folder of project {project!r} does not exist")
    read_g, write_g = group_names(project)
    for g in (read_g, write_g):
        _run("groupadd", "-f", g)
    want = {read_g: set(), write_g: set()}
    skipped = []
    for user, role in rights.items():
        try:
            pwd.getpwnam(user)
        except KeyError:
            skipped.append(user)
            continue
        want[read_g].add(user)
        if role in ("editor", "admin"):
            want[write_g].add(user)
    for g, users in want.items():
        have = _members(g)
        for user in sorted(users - have):
            _run("gpasswd", "-a", user, g)
        for user in sorted(have - users):
            _run("gpasswd", "-d", user, g)
    os.chown(folder, 0, grp.getgrnam(write_g).gr_gid)
    os.chmod(folder, 0o2770)
    acl = f"g:{read_g}:rX,g:{write_g}:rwX,o::---,m::rwx"
    _run("setfacl", "-R", "-m", acl, str(folder))
    _run("setfacl", "-R", "-d", "-m", f"u::rwx,{acl}", str(folder))  # folders only
    return {"groups": (read_g, write_g), "readers": sorted(want[read_g]),
            "editors": sorted(want[write_g]), "skipped": skipped}

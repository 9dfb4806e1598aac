"""Safe names and atomic writes for the incoming area."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import re
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nora_lab.archive.layout import TMP_PREFIX

__all__ = ["safe_uid", "atomic_write"]

_UID_RX = re.compile(r"^[0-9][0-9.]{0,127}$")


def safe_uid(uid: str) -> str:
    """A UID as a file name: itself when it is a plain UID, else ``x-<hash>``."""
    uid = uid.strip("\0 ")
    if _UID_RX.match(uid) and ".." not in uid:
        return uid
    return "x-" + hashlib.sha1(uid.encode("utf-8", "replace")).hexdigest()[:24]


_TMP_IDS = itertools.count()
_TMP_TAG = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


def atomic_write(dest: str | Path, parts: Iterable[Any]) -> None:
    """Write ``parts`` to a temporary name beside ``dest``, then rename it into place."""
    tmp = os.path.join(os.path.dirname(dest), f"{TMP_PREFIX}{_TMP_TAG}-{next(_TMP_IDS)}")
    parts = list(parts)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        try:
            total = sum(len(memoryview(p).cast("B")) for p in parts)
            written = os.writev(fd, parts)
            if written != total:  # a short write: finish piece by piece
                data = b"".join(bytes(p) for p in parts)[written:]
                while data:
                    data = data[os.write(fd, data):]
        finally:
            os.close(fd)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise

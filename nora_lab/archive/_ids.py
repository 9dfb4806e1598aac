"""Subject and study identifiers: PSIDs and the characters an ID may use."""

from __future__ import annotations

import re

from nora_lab.errors import NotFoundError, UnsafePathError

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=@,-]{0,199}$")


def split_psid(psid: str) -> tuple[str, str]:
    """``"P001#S1"`` → ``("P001", "S1")``."""
    sid, sep, stid = str(psid).partition("#")
    if not sep or not sid or not stid:
        raise NotFoundError(f"study {psid!r}: expected a PSID '<subject_id>#<study_id>'")
    return sid, stid


def check_id(value: str, what: str) -> str:
    if not _ID_RE.match(value or ""):
        raise UnsafePathError(
            f"{what} {value!r}: use letters, digits and . _ + = @ , - (it names a folder)")
    return value


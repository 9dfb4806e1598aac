"""Subject and study identifiers: PSIDs, the characters an ID may use, and folder names.

A subject or study ID names a folder, so it is made of letters (any script), digits and
``. _ + = @ , -``. IDs that arrive from outside (a DICOM PatientID, an accession number, a
``--patients_id``) may hold anything; :func:`folder_id` turns them into a folder name
*injectively*: the ID itself when it is already a valid folder name, else its safe form
plus 8 hex digits of the original's SHA-1 (``"12 34"`` → ``12_34_6dcd4ce2``, ``"12#34"`` →
``12_34_3b7d4f09``), so different IDs never share a folder. The original is kept in the
database and lookups go by it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from nora_lab.errors import NotFoundError, UnsafePathError

__all__ = ["split_psid", "check_id", "folder_id", "RESERVED_PREFIX"]

#: Names starting with this belong to the archive (temporary files, backups, journals).
RESERVED_PREFIX = ".nora-"
_ID_RE = re.compile(r"^[^\W_][\w.+=@,-]{0,199}$")
_UNSAFE = re.compile(r"[^\w.+=@,-]+")
_EDGE = "._-+=@,"


def split_psid(psid: str) -> tuple[str, str]:
    """``"P001#S1"`` → ``("P001", "S1")``."""
    sid, sep, stid = str(psid).partition("#")
    if not sep or not sid or not stid:
        raise NotFoundError(f"study {psid!r}: expected a PSID '<subject_id>#<study_id>'")
    return sid, stid


def check_id(value: str, what: str) -> str:
    """``value`` if it is a valid folder name for a subject or study, else raise.

    Raises
    ------
    UnsafePathError
        It is empty, too long, or holds other characters than letters, digits and
        ``. _ + = @ , -`` (or does not start with a letter or digit).
    """
    if not _ID_RE.match(value or "") or unicodedata.normalize("NFC", value) != value:
        raise UnsafePathError(
            f"{what} {value!r}: use letters, digits and . _ + = @ , - (it names a folder)")
    return value


def folder_id(original: str, *, digits: int = 8, hashed: bool = False) -> str:
    """The folder name of an ID from outside: itself if valid, else safe form + hash.

    Parameters
    ----------
    original
        The ID as given (a PatientID, an accession number, …).
    digits
        Hex digits of the hash appended when the ID had to change (more on a clash).
    hashed
        Append the hash even to a valid ID (its name is taken by another ID).

    Examples
    --------
    >>> folder_id("P001")
    'P001'
    >>> folder_id("12 34") != folder_id("12#34")
    True
    """
    text = str(original)
    if not hashed and _ID_RE.match(text) and unicodedata.normalize("NFC", text) == text:
        return text
    safe = _UNSAFE.sub("_", unicodedata.normalize("NFC", text.strip())).strip(_EDGE)[:120]
    tag = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:digits]
    return f"{safe}_{tag}" if safe else f"id_{tag}"

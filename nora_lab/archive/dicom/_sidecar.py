"""The BIDS sidecar as the archive stores it: extended, and scrubbed when pseudonymized.

dcm2niix's sidecar is kept whole and gets

* the source UIDs (``StudyInstanceUID``, ``SeriesInstanceUID``, added where dcm2niix
  did not write them), so that derived objects can be sent back to the PACS;
* ``NoraArchive``: the archive's own keys (project, psid, subject, study, series folder,
  series number, instance count, converter, its flags, Philips scaling, compression).

In a pseudonymized project every identifying key (:data:`IDENTITY_KEYS`) is removed, and
so is any other string value that contains a part of the patient's real name, id or
birth date. Nothing time-dependent is written: the same DICOMs give the same sidecar.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["IDENTITY_KEYS", "identity_strings", "extend_sidecar", "contains_identity"]

IDENTITY_KEYS = frozenset({
    "PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs", "OtherPatientNames",
    "PatientAddress", "PatientTelephoneNumbers", "PatientMotherBirthName",
    "PatientBirthName", "PatientComments", "ReferringPhysicianName",
    "PerformingPhysicianName", "RequestingPhysician", "OperatorsName", "AccessionNumber",
    "StudyID", "InstitutionAddress", "MilitaryRank", "EthnicGroup", "ImageComments",
    "PatientInsurancePlanCodeSequence", "IssuerOfPatientID",
})


def identity_strings(name: str = "", pid: str = "", birth: str = "") -> tuple[str, ...]:
    """The strings that must not appear anywhere in a pseudonymized project's files."""
    out: set[str] = set()
    for part in re.split(r"[\^\s,]+", name or ""):
        if len(part) > 2:
            out.add(part)
    if pid and len(pid) > 2:
        out.add(pid)
    if birth and re.fullmatch(r"\d{8}", birth):
        out.update({birth, f"{birth[:4]}-{birth[4:6]}-{birth[6:]}"})
    return tuple(sorted(out, key=len, reverse=True))


def contains_identity(value: str, hide: Iterable[str]) -> bool:
    low = value.lower()
    return any(h.lower() in low for h in hide)


def _scrub(value: Any, hide: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return None if contains_identity(value, hide) else value
    if isinstance(value, list):
        return [v for v in (_scrub(x, hide) for x in value) if v is not None]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in IDENTITY_KEYS:
                continue
            v = _scrub(v, hide)
            if v is not None:
                out[k] = v
        return out
    return value


def extend_sidecar(raw: Mapping[str, Any], *, nora: Mapping[str, Any],
                   uids: Mapping[str, str], pseudonymized: bool,
                   hide: tuple[str, ...] = ()) -> dict[str, Any]:
    """The sidecar to store: dcm2niix's keys + source UIDs + ``NoraArchive``."""
    out = dict(raw)
    for key, value in uids.items():
        if value and not out.get(key):
            out[key] = value
    if pseudonymized:
        out = _scrub(out, hide)
    out["NoraArchive"] = dict(nora)
    return out

"""Where a study and a series are filed: the project's import policy and id overrides.

**Subject id** (NORA's ``patients_id``), first that applies:

1. ``patients_id=`` of the import, or the ``patients_id`` group of ``pattern``;
2. the header's PatientID; else PatientName; else ``P`` + 8 hex digits of the
   StudyInstanceUID's SHA-1.

The archive keeps that original ID and files the subject under a folder name derived
from it injectively (:func:`nora_lab.archive._ids.folder_id`): the ID itself when it is
a valid folder name, else its safe form plus a hash (``Test^Regression`` →
``Test_Regression_9f1c…``), so that ``12 34`` and ``12#34`` stay two subjects.

In a pseudonymized project this real id is handed to ``project.add_subject(..., identity=)``
which stores and returns the pseudonym; only the pseudonym reaches folders and files.

**Study id** (NORA's ``studies_id``), first that applies:

1. ``studies_id=`` of the import, or the ``studies_id`` group of ``pattern``;
2. in a *real* project: AccessionNumber (unique per order in the RIS), else StudyID
   (the scanner's exam number), as a folder name by the same injective rule;
3. otherwise — and always in a pseudonymized project, where an accession number would
   identify the patient — ``S`` + 8 hex digits of the SHA-1 of the StudyInstanceUID:
   stable, so a re-import finds the same study.

A study id already used in the subject by a *different* StudyInstanceUID (two exams
both numbered "1") gets ``_`` + those 8 hex digits appended.

**Series folder and file names** come from the policy (format fields: ``SeriesNumber``,
``SeriesDescription`` (falling back to ProtocolName, then Modality), ``ProtocolName``,
``Modality``, ``AcquisitionNumber``, ``SeriesInstanceUID``), each made folder-safe.
Defaults: ``{SeriesNumber}_{SeriesDescription}`` / ``s{SeriesNumber:03d}`` — NORA's
file patterns such as ``t1*/s0__.nii`` keep working. A folder taken by another series of
the study gets ``_2``, ``_3``, …

The policy is stored per project with ``project.put_json("setting", "dicom_import",
{...})`` (keys of :class:`Policy`); keyword arguments of the import override it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from nora_lab.archive._ids import folder_id
from nora_lab.archive.dicom._group import Series, Study
from nora_lab.archive.dicom._scan import Instance
from nora_lab.errors import ConfigError

__all__ = ["Policy", "compile_pattern", "pattern_override", "subject_key", "study_key",
           "series_names", "uid_hash", "folder_safe"]

_BAD = re.compile(r"[^A-Za-z0-9._+=@,-]+")


@dataclass(frozen=True)
class Policy:
    """How a project files imported DICOM (``put_json("setting", "dicom_import", …)``).

    Attributes
    ----------
    series_folder, file_name
        Format strings over the series' header fields (``SeriesNumber``,
        ``SeriesDescription``, ``ProtocolName``…) naming its folder and files.
    keep_dicom
        Keep each series' original DICOMs as ``<series folder>/dicom.tar.gz``.
    compresslevel
        gzip level of the ``.nii.gz`` files, 1–9 (default 5: see
        :mod:`nora_lab.archive.dicom._compress` for the measured trade-off).
    dcm2niix_timeout
        Seconds before a dcm2niix run on one series is stopped and reported.

    Examples
    --------
    >>> proj.put_json("setting", "dicom_import", {"compresslevel": 6})  # doctest: +SKIP
    """

    series_folder: str = "{SeriesNumber}_{SeriesDescription}"
    file_name: str = "s{SeriesNumber:03d}"
    keep_dicom: bool = False
    compresslevel: int = 5
    dcm2niix_timeout: float = 3600.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None, **overrides: Any) -> Policy:
        names = {f.name for f in fields(cls)}
        merged = {k: v for k, v in dict(values or {}).items() if k in names}
        unknown = sorted(set(dict(values or {})) - names)
        if unknown:
            raise ConfigError(f"dicom_import policy: unknown key(s) {unknown}; "
                              f"known: {sorted(names)}")
        merged.update({k: v for k, v in overrides.items() if v is not None})
        policy = replace(cls(), **merged)
        if not 1 <= int(policy.compresslevel) <= 9:
            raise ConfigError(f"dicom_import policy: compresslevel {policy.compresslevel} "
                              "is not in 1..9")
        return policy


def folder_safe(text: str, default: str = "unnamed") -> str:
    """Letters, digits and ``._+=@,-`` only, starting with a letter or digit."""
    out = _BAD.sub("_", str(text).strip()).strip("._-+=@,") or default
    return out[:120]


def uid_hash(uid: str) -> str:
    return hashlib.sha1(uid.encode()).hexdigest()[:8]


_NORA_GROUP = re.compile(r"\(\?<(?![=!])(\w+)>")


def compile_pattern(pattern: str | None) -> re.Pattern[str] | None:
    """Compile an import ``pattern``; NORA's ``(?<name>…)`` becomes ``(?P<name>…)``."""
    if not pattern:
        return None
    try:
        rx = re.compile(_NORA_GROUP.sub(r"(?P<\1>", pattern))
    except re.error as exc:
        raise ConfigError(f"import pattern {pattern!r} is not a valid regular expression: "
                          f"{exc}") from exc
    if not {"patients_id", "studies_id"} & set(rx.groupindex):
        raise ConfigError(
            f"import pattern {pattern!r} names no group: use (?P<patients_id>…) and/or "
            "(?P<studies_id>…), e.g. r'(?P<studies_id>[\\w-]+)/(?P<patients_id>\\w+)$'")
    return rx


def pattern_override(rx: re.Pattern[str] | None, patients_id: str | None,
                     studies_id: str | None):
    """``instance -> (patients_id, studies_id)`` for :func:`._group.group`.

    The pattern is searched in the folder of the file's source path (``/``-separated),
    then, if that does not match, in the full source path.
    """
    cache: dict[str, tuple[str | None, str | None]] = {}

    def override(inst: Instance) -> tuple[str | None, str | None]:
        pid, sid = patients_id, studies_id
        if rx is not None:
            src = inst.source.replace("\\", "/")
            folder = src.rsplit("/", 1)[0]
            if folder not in cache:
                m = rx.search(folder) or rx.search(src)
                g = m.groupdict() if m else {}
                cache[folder] = (g.get("patients_id"), g.get("studies_id"))
            ppid, psid = cache[folder]
            pid, sid = pid or ppid, sid or psid
        return (pid, sid)

    return override


def subject_key(study: Study) -> str:
    """The real subject id of a study (before pseudonymization)."""
    if study.override[0]:
        return str(study.override[0])
    pid = study.common("patient_id") or study.common("patient_name")
    return pid if pid else "P" + uid_hash(study.study_uid)


def study_key(study: Study, *, pseudonymized: bool) -> str:
    """The study id a study gets (before clash resolution)."""
    if study.override[1]:
        return folder_id(str(study.override[1]))
    if not pseudonymized:
        for name in ("accession", "study_id"):
            value = study.common(name)
            if value and value.strip():
                return folder_id(value.strip())
    return "S" + uid_hash(study.study_uid)


def _format(template: str, values: Mapping[str, Any], what: str) -> str:
    try:
        return template.format(**values)
    except (KeyError, ValueError, IndexError) as exc:
        raise ConfigError(f"dicom_import policy {what} {template!r}: {exc}; fields are "
                          f"{sorted(values)}") from exc


def series_names(series: Series, policy: Policy, *, hide: tuple[str, ...] = ()) -> tuple[str, str]:
    """(series folder, file stem) of a series by the policy.

    ``hide``: identity strings (pseudonymized projects) that must not appear in names.
    """
    f = series.first
    description = series.description
    for secret in hide:
        if secret and len(secret) > 2:
            description = re.sub(re.escape(secret), "x", description, flags=re.IGNORECASE)
    values = {
        "SeriesNumber": series.series_number if series.series_number is not None else 0,
        "SeriesDescription": description,
        "ProtocolName": f.protocol_name or description,
        "Modality": f.modality or "OT",
        "AcquisitionNumber": f.acquisition_number or 0,
        "SeriesInstanceUID": series.series_uid,
    }
    folder = folder_safe(_format(policy.series_folder, values, "series_folder"), "series")
    stem = folder_safe(_format(policy.file_name, values, "file_name"), "image")
    return folder, stem

"""Answer C-FIND from the archive: the studies a project imported from DICOM.

The node's C-FIND SCP (Patient Root and Study Root; PATIENT, STUDY, SERIES and IMAGE
levels) matches what the import recorded — ``dicom_instances`` (UIDs, series numbers,
counts), the study rows (date, description, StudyInstanceUID) and the converted series'
sidecars (Modality, SeriesDescription) — with DICOM's rules: ``*``/``?`` wildcards
(person names case-insensitive), date ranges ``20200101-20201231``, UID lists
``uid1\\uid2``, empty keys returned. A pseudonymized project answers with its pseudonyms,
never the real identity.
"""

from __future__ import annotations

import fnmatch
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from pydicom.dataset import Dataset

from nora_lab.archive import _db
from nora_lab.archive import _schema as t
from nora_lab.archive.dicom._tables import dicom_instances as di
from nora_lab.errors import PacsError

__all__ = ["answer_find", "match"]

LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")


@dataclass
class _Series:
    uid: str
    number: int | None
    folder: str
    instances: int
    modality: str = ""
    description: str = ""
    sops: list[str] = field(default_factory=list)


@dataclass
class _Study:
    pk: int
    uid: str
    psid: str
    subject: str
    date: str
    time: str
    description: str
    accession: str
    study_id: str
    patient_id: str
    patient_name: str
    birth_date: str
    series: list[_Series] = field(default_factory=list)


def match(value: Any, pattern: Any, kind: str = "str") -> bool:
    """DICOM C-FIND matching of one attribute value.

    ``kind``: ``"uid"`` (list matching), ``"date"`` (ranges), ``"pn"`` (wildcards,
    case-insensitive) or ``"str"`` (wildcards, case-sensitive).
    """
    if pattern is None:
        return True
    pat = str(pattern).strip("\0 ")
    if pat in ("", "*"):
        return True
    val = "" if value is None else str(value).strip("\0 ")
    if kind == "uid":
        return val in {p.strip() for p in pat.split("\\")}
    if kind == "date":
        if "-" in pat:
            lo, _, hi = pat.partition("-")
            return bool(val) and (not lo or val >= lo) and (not hi or val <= hi)
        return val == pat
    if kind == "pn":
        val, pat = val.lower(), pat.lower()
    if "*" in pat or "?" in pat:
        rx = fnmatch.translate(pat.replace("[", "[[]"))
        return re.match(rx, val, re.DOTALL) is not None
    return val == pat


def _studies(project: Any, with_sops: bool) -> list[_Study]:
    s, sub, i = t.studies, t.subjects, t.identities
    pseudo = project.naming == "pseudonym"
    with _db.read(project.archive.engine) as conn:
        rows = conn.execute(
            sa.select(s.c.id, s.c.psid, s.c.date, s.c.description, s.c.meta,
                      sub.c.subject_id, i.c.real_id, i.c.real_name, i.c.birthdate)
            .join(sub, sub.c.id == s.c.subject)
            .outerjoin(i, i.c.subject == sub.c.id)
            .where(s.c.project_id == project.pk)).all()
        series = conn.execute(
            sa.select(di.c.study, di.c.study_uid, di.c.series_uid, di.c.series_number,
                      di.c.series_folder, sa.func.count().label("n"))
            .where(di.c.project_id == project.pk)
            .group_by(di.c.study, di.c.study_uid, di.c.series_uid, di.c.series_number,
                      di.c.series_folder)).all()
        sops: dict[tuple[int, str], list[str]] = defaultdict(list)
        if with_sops:
            for r in conn.execute(sa.select(di.c.study, di.c.series_uid, di.c.sop_uid)
                                  .where(di.c.project_id == project.pk)):
                sops[(r.study, r.series_uid)].append(r.sop_uid)
        sidecars: dict[tuple[int, str], dict] = {}
        for r in conn.execute(sa.select(t.files.c.study, t.files.c.series, t.files.c.meta)
                              .where(t.files.c.project_id == project.pk,
                                     t.files.c.name.like("%.nii.gz"))):
            sidecars.setdefault((r.study, r.series), r.meta or {})
    by_pk: dict[int, list[Any]] = defaultdict(list)
    for r in series:
        by_pk[r.study].append(r)
    out = []
    for r in rows:  # type: ignore[assignment]
        if r.id not in by_pk:
            continue  # not imported from DICOM
        meta = r.meta or {}
        uid = meta.get("StudyInstanceUID") or by_pk[r.id][0].study_uid
        if pseudo:
            pid, name, birth = r.subject_id, r.subject_id, ""
        else:
            pid, name, birth = r.real_id or r.subject_id, r.real_name or "", r.birthdate or ""
        st = _Study(r.id, uid, r.psid, r.subject_id, (r.date or "").replace("-", ""),
                    str(meta.get("StudyTime") or ""), r.description or "",
                    "" if pseudo else str(meta.get("AccessionNumber") or ""),
                    "" if pseudo else str(meta.get("StudyID") or ""), pid, name, birth)
        for x in by_pk[r.id]:
            side = sidecars.get((r.id, x.series_folder), {})
            st.series.append(_Series(x.series_uid, x.series_number, x.series_folder, x.n,
                                     str(side.get("Modality") or ""),
                                     str(side.get("SeriesDescription") or ""),
                                     sops.get((r.id, x.series_uid), [])))
        out.append(st)
    return out


def answer_find(project: Any, query: Dataset) -> Iterator[Dataset]:
    """The C-FIND matches of ``query`` in ``project`` (one Dataset per match).

    Raises
    ------
    PacsError
        For a missing or unknown QueryRetrieveLevel.
    """
    level = str(query.get("QueryRetrieveLevel", "")).strip().upper()
    if level not in LEVELS:
        raise PacsError(f"C-FIND without a valid QueryRetrieveLevel ({level!r}; "
                        f"expected one of {', '.join(LEVELS)})")
    q = {e.keyword: e.value for e in query if e.keyword and e.VR != "SQ"}
    studies = _studies(project, with_sops=level == "IMAGE")

    def patient_ok(st: _Study) -> bool:
        return (match(st.patient_id, q.get("PatientID"))
                and match(st.patient_name, q.get("PatientName"), "pn")
                and match(st.birth_date, q.get("PatientBirthDate"), "date"))

    def study_ok(st: _Study) -> bool:
        mods = {s.modality for s in st.series if s.modality}
        wanted = q.get("ModalitiesInStudy")
        return (patient_ok(st) and match(st.uid, q.get("StudyInstanceUID"), "uid")
                and match(st.date, q.get("StudyDate"), "date")
                and match(st.description, q.get("StudyDescription"))
                and match(st.accession, q.get("AccessionNumber"))
                and match(st.study_id, q.get("StudyID"))
                and (not wanted or not str(wanted).strip("* ") or any(
                    match(m, w) for m in mods for w in _multi(wanted))))

    def series_ok(se: _Series) -> bool:
        return (match(se.uid, q.get("SeriesInstanceUID"), "uid")
                and match(se.modality, q.get("Modality"))
                and match(se.description, q.get("SeriesDescription"))
                and match("" if se.number is None else str(se.number), q.get("SeriesNumber")))

    keys = set(q)
    if level == "PATIENT":
        patients: dict[str, list[_Study]] = defaultdict(list)
        for st in studies:
            if patient_ok(st):
                patients[st.patient_id].append(st)
        for _pid, sts in sorted(patients.items()):
            yield _reply(level, keys, _patient_attrs(sts))
        return
    for st in sorted(studies, key=lambda s: (s.patient_id, s.date, s.uid)):
        if not study_ok(st):
            continue
        if level == "STUDY":
            yield _reply(level, keys, {**_patient_attrs([st]), **_study_attrs(st)})
            continue
        for se in sorted(st.series, key=lambda s: (s.number or 0, s.uid)):
            if not series_ok(se):
                continue
            attrs = {**_patient_attrs([st]), **_study_attrs(st), **_series_attrs(se)}
            if level == "SERIES":
                yield _reply(level, keys, attrs)
                continue
            for sop in sorted(se.sops):
                if match(sop, q.get("SOPInstanceUID"), "uid"):
                    yield _reply(level, keys, {**attrs, "SOPInstanceUID": sop})


def _multi(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)) or hasattr(value, "__iter__") and \
            not isinstance(value, str):
        return [str(v) for v in value]
    return str(value).split("\\")


def _patient_attrs(sts: list[_Study]) -> dict[str, Any]:
    st = sts[0]
    return {"PatientID": st.patient_id, "PatientName": st.patient_name,
            "PatientBirthDate": st.birth_date,
            "NumberOfPatientRelatedStudies": len(sts),
            "NumberOfPatientRelatedSeries": sum(len(s.series) for s in sts),
            "NumberOfPatientRelatedInstances": sum(x.instances for s in sts for x in s.series)}


def _study_attrs(st: _Study) -> dict[str, Any]:
    return {"StudyInstanceUID": st.uid, "StudyDate": st.date, "StudyTime": st.time,
            "StudyDescription": st.description, "AccessionNumber": st.accession,
            "StudyID": st.study_id,
            "ModalitiesInStudy": sorted({s.modality for s in st.series if s.modality}),
            "NumberOfStudyRelatedSeries": len(st.series),
            "NumberOfStudyRelatedInstances": sum(s.instances for s in st.series)}


def _series_attrs(se: _Series) -> dict[str, Any]:
    return {"SeriesInstanceUID": se.uid, "SeriesNumber": se.number,
            "Modality": se.modality, "SeriesDescription": se.description,
            "NumberOfSeriesRelatedInstances": se.instances}


def _reply(level: str, keys: set[str], attrs: dict[str, Any]) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for key in sorted(keys - {"QueryRetrieveLevel"}):
        value = attrs.get(key)
        if key == "SpecificCharacterSet":
            ds.SpecificCharacterSet = "ISO_IR 192"
            continue
        try:
            setattr(ds, key, "" if value is None else value)
        except (TypeError, ValueError):
            setattr(ds, key, "")
    if "SpecificCharacterSet" not in ds and any(
            isinstance(v, str) and not v.isascii() for v in attrs.values()):
        ds.SpecificCharacterSet = "ISO_IR 192"
    return ds

"""C-ECHO and C-FIND against a PACS, with NORA's query conventions, into DataFrames.

>>> find_studies("PACS1", patient_name="Doe^J*", study_date="20200101-20201231")   # doctest: +SKIP
>>> series = find_series("PACS1", patient_id="12345", modality="MR",
...                      series_description="*t1*")                             # doctest: +SKIP
>>> sequences(series)   # each sequence and its "in studies" count  # doctest: +SKIP

Conventions (NORA's query tool): names ``Last^First``; ``*`` and ``?`` wildcards; dates
``20200101``, ranges ``20200101-20201231`` (open: ``20200101-``), a year ``2020``, ISO
``2020-01-01``, or a ``(start, end)`` pair; an empty value or ``*`` matches anything.
Series and instance queries run level by level (studies, then their series, …), so they
work on PACSes that only answer hierarchical queries; every row carries the columns of
its parents (PatientName, StudyDate, … on a series row).
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pandas as pd
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pynetdicom.sop_class import (  # type: ignore[attr-defined]  # names made at import
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)

from nora_lab.archive.pacs._assoc import association, resolve, status_text
from nora_lab.archive.pacs.nodes import PacsConfig, PacsNode
from nora_lab.errors import ConfigError, PacsError

__all__ = ["echo", "find", "find_patients", "find_studies", "find_series", "find_instances",
           "sequences", "query_keys", "COLUMNS"]

LEVELS = ("patient", "study", "series", "image")
_DICOM_LEVEL = {"patient": "PATIENT", "study": "STUDY", "series": "SERIES", "image": "IMAGE"}

#: the attributes asked for (returned as columns) at each level
COLUMNS: dict[str, list[str]] = {
    "patient": ["PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                "NumberOfPatientRelatedStudies"],
    "study": ["StudyInstanceUID", "StudyDate", "StudyTime", "StudyDescription",
              "AccessionNumber", "ModalitiesInStudy", "NumberOfStudyRelatedSeries",
              "NumberOfStudyRelatedInstances"],
    "series": ["SeriesInstanceUID", "SeriesNumber", "Modality", "SeriesDescription",
               "SeriesDate", "NumberOfSeriesRelatedInstances"],
    "image": ["SOPInstanceUID", "SOPClassUID", "InstanceNumber"],
}

#: keyword arguments -> DICOM attributes (``modality`` depends on the level)
_ALIASES = {
    "patient_name": "PatientName", "patient_id": "PatientID",
    "birth_date": "PatientBirthDate", "sex": "PatientSex",
    "study_date": "StudyDate", "study_description": "StudyDescription",
    "accession": "AccessionNumber", "study_uid": "StudyInstanceUID",
    "series_uid": "SeriesInstanceUID", "series_description": "SeriesDescription",
    "series_number": "SeriesNumber", "sop_uid": "SOPInstanceUID",
    "modality": "Modality",
}
_LEVEL_OF = {"PatientName": "patient", "PatientID": "patient", "PatientBirthDate": "patient",
             "PatientSex": "patient", "StudyDate": "study", "StudyTime": "study",
             "StudyDescription": "study", "AccessionNumber": "study",
             "StudyInstanceUID": "study", "ModalitiesInStudy": "study", "StudyID": "study",
             "SeriesInstanceUID": "series", "SeriesDescription": "series",
             "SeriesNumber": "series", "Modality": "series", "SeriesDate": "series",
             "SOPInstanceUID": "image", "InstanceNumber": "image", "SOPClassUID": "image"}
_MODELS = {"study": StudyRootQueryRetrieveInformationModelFind,
           "patient": PatientRootQueryRetrieveInformationModelFind}


# --- echo -----------------------------------------------------------------------------


def echo(node: PacsNode | str, *, config: PacsConfig | None = None) -> float:
    """C-ECHO ``node``; the round trip in seconds.

    Raises
    ------
    PacsError
        Unreachable, association rejected, or a failure status.
    """
    node, cfg = resolve(node, config)
    if node.transport == "dicomweb":
        from nora_lab.archive.pacs import dicomweb

        return dicomweb.echo(node)
    t0 = time.perf_counter()
    with association(node, cfg, [Verification], limit=False) as assoc:
        status = assoc.send_c_echo()
    if status is None or status.get("Status") != 0:
        raise PacsError(f"C-ECHO to {node.name!r} failed: {status_text(status)}")
    return time.perf_counter() - t0


# --- query values -----------------------------------------------------------------------


def _date(value: Any) -> str:
    """NORA's date conventions -> a DICOM date or range."""
    if value is None:
        return ""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return f"{_date(value[0])}-{_date(value[1])}".strip()
    if isinstance(value, (_dt.date, _dt.datetime, pd.Timestamp)):
        return value.strftime("%Y%m%d")
    text = str(value).strip()
    if text in ("", "*"):
        return ""
    if re.fullmatch(r"\d{4}", text):
        return f"{text}0101-{text}1231"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return text.replace("-", "")
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})?\s*(?:\.\.|/)\s*(\d{4}-\d{2}-\d{2})?", text)
    if m and (m.group(1) or m.group(2)):
        return f"{(m.group(1) or '').replace('-', '')}-{(m.group(2) or '').replace('-', '')}"
    if not re.fullmatch(r"\d{8}(-\d{8})?|-\d{8}|\d{8}-", text):
        raise ConfigError(f"date {value!r}: expected 20200131, a range 20200101-20201231 "
                          "(open ends allowed), a year 2020, 2020-01-31, or (start, end)")
    return text


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, set)):
        return "\\".join(str(v) for v in value)
    if isinstance(value, pd.Series):
        return "\\".join(str(v) for v in value.dropna().unique())
    text = str(value).strip()
    return "" if text == "*" else text


def query_keys(level: str = "study", **criteria: Any) -> dict[str, str]:
    """The DICOM matching keys for NORA-style criteria (what :func:`find` sends).

    Keyword arguments are the aliases (``patient_name``, ``patient_id``, ``birth_date``,
    ``study_date``, ``study_description``, ``series_description``, ``modality``,
    ``accession``, ``study_uid``, ``series_uid``, ``sop_uid``) or DICOM keywords.

    >>> query_keys("study", patient_name="Doe^J*", study_date="2020", modality="MR")
    {'PatientName': 'Doe^J*', 'StudyDate': '20200101-20201231', 'ModalitiesInStudy': 'MR'}
    """
    keys: dict[str, str] = {}
    for name, value in criteria.items():
        kw = _ALIASES.get(name, name)
        if kw == "Modality" and level in ("patient", "study"):
            kw = "ModalitiesInStudy"
        if not tag_for_keyword(kw):
            raise ConfigError(f"unknown query key {name!r}: use one of "
                              f"{', '.join(sorted(_ALIASES))} or a DICOM keyword")
        vr = dictionary_VR(kw)
        text = _date(value) if vr == "DA" else _text(value)
        if text:
            keys[kw] = text
    return keys


# --- find -------------------------------------------------------------------------------


def _level_of(keyword: str, default: str) -> str:
    return _LEVEL_OF.get(keyword, default)


def _value(elem_value: Any) -> Any:
    if elem_value is None:
        return None
    if isinstance(elem_value, (list, tuple)) or type(elem_value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in elem_value)
    if type(elem_value).__name__ in ("IS", "DSfloat", "DSdecimal"):
        return int(elem_value) if type(elem_value).__name__ == "IS" else float(elem_value)
    return str(elem_value)


def _query(assoc: Any, model: Any, level: str, keys: dict[str, str],
           columns: Sequence[str]) -> list[dict[str, Any]]:
    ds = Dataset()
    ds.QueryRetrieveLevel = _DICOM_LEVEL[level]
    for kw in columns:
        setattr(ds, kw, "")
    for kw, v in keys.items():
        setattr(ds, kw, v)
    rows = []
    last = None
    for status, ident in assoc.send_c_find(ds, model):
        last = status
        if status is None or "Status" not in status:
            raise PacsError(f"C-FIND ({level} level) got {status_text(status)}")
        if status.Status in (0xFF00, 0xFF01) and ident is not None:
            rows.append({kw: _value(ident[kw].value) if kw in ident else None
                         for kw in columns})
        elif status.Status not in (0x0000, 0xFF00, 0xFF01):
            raise PacsError(f"C-FIND ({level} level, keys {keys}) refused: "
                            f"{status_text(status)}")
    if last is None:
        raise PacsError(f"C-FIND ({level} level) got no response")
    return rows


def _columns(level: str, extra: Iterable[str]) -> list[str]:
    cols = [] if level == "patient" else ["PatientName", "PatientID", "PatientBirthDate",
                                          "PatientSex"]
    if level in ("series", "image"):
        cols += ["StudyInstanceUID", "StudyDate", "StudyDescription"]
    if level == "image":
        cols += ["SeriesInstanceUID", "SeriesNumber", "Modality", "SeriesDescription"]
    return list(dict.fromkeys([*cols, *COLUMNS[level], *extra]))


def find(node: PacsNode | str, level: str = "study", *, root: str = "study",
         config: PacsConfig | None = None, columns: Sequence[str] = (),
         **criteria: Any) -> pd.DataFrame:
    """C-FIND at ``level`` (patient, study, series, image) on ``root`` (study, patient).

    Parameters
    ----------
    node
        A configured node's name or a :class:`PacsNode`.
    level
        What one row is.
    root
        The information model: ``"study"`` (Study Root) or ``"patient"`` (Patient Root).
    columns
        More DICOM keywords to ask for.
    **criteria
        Matching keys, NORA-style (see :func:`query_keys`).

    Returns
    -------
    pandas.DataFrame
        One row per match; DICOM keywords as columns, parents' columns included.

    Raises
    ------
    PacsError
        Unreachable node, rejected association or a refused query.
    ConfigError
        An unknown key or a malformed date.
    """
    level = level.lower()
    if level not in LEVELS:
        raise ConfigError(f"level {level!r}: expected one of {', '.join(LEVELS)}")
    if root not in _MODELS:
        raise ConfigError(f"root {root!r}: expected 'study' or 'patient'")
    if level == "patient" and root != "patient":
        root = "patient"  # only Patient Root has a patient level
    node, cfg = resolve(node, config)
    keys = query_keys(level, **criteria)
    model = _MODELS[root]
    if node.transport == "dicomweb":  # QIDO-RS, level by level as C-FIND
        from nora_lab.archive.pacs import dicomweb

        rows = _descend(dicomweb.level_query(node), root, level, keys, list(columns))
    else:
        with association(node, cfg, [model]) as assoc:
            rows = _descend(functools.partial(_query, assoc, model), root, level, keys,
                            list(columns))
    cols = _columns(level, columns)
    df = pd.DataFrame(rows, columns=list(dict.fromkeys([*cols, *(k for r in rows for k in r)])))
    for c in df.columns:
        if c.startswith("NumberOf") or c in ("SeriesNumber", "InstanceNumber"):
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    return df


def _descend(ask: Callable[[str, dict[str, str], list[str]], list[dict[str, Any]]],
             root: str, level: str, keys: dict[str, str],
             extra: list[str]) -> list[dict[str, Any]]:
    """Query level by level, from the root's top level down to ``level``; ``ask(level,
    keys, columns)`` runs one query (a C-FIND, or a QIDO-RS search)."""
    top = "patient" if root == "patient" else "study"
    rank = LEVELS.index
    deeper = [k for k in keys if rank(_level_of(k, level)) > rank(level)]
    if deeper:
        raise ConfigError(f"{', '.join(deeper)} select(s) below the {level} level: query "
                          f"that level (e.g. find_series) and group its rows")
    parents: list[dict[str, Any]] = [{}]
    for lv in LEVELS[rank(top):rank(level) + 1]:
        lv_keys = {k: v for k, v in keys.items()
                   if _level_of(k, level) == lv or (lv == top and rank(_level_of(k, level))
                                                    < rank(top))}
        cols = list(COLUMNS[lv])
        if lv == "study" and top == "study":
            cols = ["PatientName", "PatientID", "PatientBirthDate", "PatientSex", *cols]
        if lv == level:
            cols += extra
        out = []
        for parent in parents:
            unique = {}
            if root == "patient" and lv != "patient" and parent.get("PatientID"):
                unique["PatientID"] = parent["PatientID"]
            if lv in ("series", "image"):
                unique["StudyInstanceUID"] = parent["StudyInstanceUID"]
            if lv == "image":
                unique["SeriesInstanceUID"] = parent["SeriesInstanceUID"]
            q = {**lv_keys, **unique}
            for row in ask(lv, q, list(dict.fromkeys([*cols, *unique]))):
                merged = dict(parent)
                merged.update({k: v for k, v in row.items()
                               if v not in (None, "") or k not in merged})
                out.append(merged)
        parents = out
        if not parents:
            break
    return parents


def find_patients(node: PacsNode | str, **criteria: Any) -> pd.DataFrame:
    """Patients (Patient Root, PATIENT level)."""
    return find(node, "patient", root="patient", **criteria)


def find_studies(node: PacsNode | str, **criteria: Any) -> pd.DataFrame:
    """Studies, with their patient's columns."""
    return find(node, "study", **criteria)


def find_series(node: PacsNode | str, **criteria: Any) -> pd.DataFrame:
    """Series of the matching studies, with study and patient columns."""
    return find(node, "series", **criteria)


def find_instances(node: PacsNode | str, **criteria: Any) -> pd.DataFrame:
    """Instances (IMAGE level) of the matching series."""
    return find(node, "image", **criteria)


def sequences(series: pd.DataFrame) -> pd.DataFrame:
    """NORA's result view: each sequence (Modality, SeriesDescription) found, the number
    of studies and patients it occurs in (``in_studies``, ``in_patients``), its series
    and instances, and the StudyInstanceUIDs — pick rows to pull."""
    cols = ["Modality", "SeriesDescription", "in_studies", "in_patients", "series",
            "instances", "StudyInstanceUIDs"]
    if series.empty:
        return pd.DataFrame(columns=cols)
    df = series.copy()
    for c in ("Modality", "SeriesDescription", "PatientID"):
        if c not in df:
            df[c] = ""
    df["Modality"] = df["Modality"].fillna("")
    df["SeriesDescription"] = df["SeriesDescription"].fillna("")
    n = df.get("NumberOfSeriesRelatedInstances")
    df["_n"] = n.fillna(0).astype(int) if n is not None else 0
    g = df.groupby(["Modality", "SeriesDescription"], sort=False)
    out = pd.DataFrame({
        "in_studies": g["StudyInstanceUID"].nunique(),
        "in_patients": g["PatientID"].nunique(),
        "series": g["SeriesInstanceUID"].nunique(),
        "instances": g["_n"].sum(),
        "StudyInstanceUIDs": g["StudyInstanceUID"].agg(lambda s: sorted(set(s))),
    }).reset_index()
    return out.sort_values(["in_studies", "Modality", "SeriesDescription"],
                           ascending=[False, True, True], ignore_index=True)[cols]

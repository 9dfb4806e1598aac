"""DICOMweb, the second transport beside DIMSE: QIDO-RS search, WADO-RS retrieve, STOW-RS
store (dicomweb-client).

A node with ``transport: dicomweb`` and a ``url`` in ``pacs.yaml`` is used through the
same functions as a DIMSE node — :func:`~.query.echo`, :func:`~.query.find` (and
``find_studies``, ``find_series``, …), :func:`~.retrieve.pull`, :func:`~.store.push` —
which hand over to this module::

    cfg.add("WEB1", transport="dicomweb", url="http://pacs:8042/dicom-web", save=True)
    series = find_series("WEB1", patient_id="12345", modality="MR")
    pull("WEB1", project, series=series)       # WADO-RS, then the DICOM import
    push("WEB1", seg)                          # STOW-RS

What differs from DIMSE:

* **search** runs level by level like C-FIND (studies, then their series…). QIDO-RS has
  no patient level: patients are the distinct patients of the matching studies;
* **retrieve** needs no node of ours listening: WADO-RS sends the instances back on the
  request (as stored: ``transfer-syntax=*``); they are written to a private folder and
  imported from there. A series the project holds completely is skipped; a partly held
  one is retrieved whole and the import completes it;
* **store** sends files as read (STOW-RS, one request per :data:`STOW_BATCH` instances);
  the service's answer (Referenced / Failed SOP Sequence) gives each instance's status.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pydicom.dataset import Dataset

from nora_lab.archive.pacs.nodes import PacsNode
from nora_lab.errors import ConfigError, PacsError

__all__ = ["client", "echo", "level_query", "pull", "store", "STOW_BATCH"]

#: instances per STOW-RS request
STOW_BATCH = 50
_AS_STORED = (("application/dicom", "*"),)


def client(node: PacsNode) -> Any:
    """A ``dicomweb_client.DICOMwebClient`` for ``node`` (its ``url`` and ``timeout``)."""
    try:
        from dicomweb_client.api import DICOMwebClient
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ConfigError("DICOMweb nodes need dicomweb-client: pip install "
                          "dicomweb-client (a dependency of nora_lab)") from exc
    if node.transport != "dicomweb" or not node.url:
        raise ConfigError(f"PACS node {node.name!r} is not a DICOMweb node (transport "
                          f"{node.transport!r}); set transport: dicomweb and url")
    import requests

    session = requests.Session()
    session.mount("http://", _Wildcards())
    session.mount("https://", _Wildcards())
    return DICOMwebClient(url=node.url, session=session, timeout=node.timeout)


def _wildcards_as_typed(url: str) -> str:
    base, sep, query = url.partition("?")
    return base + sep + query.replace("%2A", "*").replace("%3F", "?")


def _adapter_base() -> type:
    from requests.adapters import HTTPAdapter

    return HTTPAdapter


class _Wildcards(_adapter_base()):  # type: ignore[misc]
    """Sends QIDO-RS wildcards as typed: requests escapes ``*`` and ``?`` in query values
    (``%2A``, ``%3F``), which some services (Orthanc's plugin) then match literally."""

    def send(self, request: Any, **kw: Any) -> Any:
        if request.url:
            request.url = _wildcards_as_typed(request.url)
        return super().send(request, **kw)


def _call(node: PacsNode, what: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    """Run a dicomweb-client call; network and HTTP failures as :class:`PacsError`."""
    import requests

    try:
        return fn(*args, **kw)
    except requests.HTTPError as exc:
        code = exc.response.status_code if exc.response is not None else "?"
        body = (exc.response.text[:300] if exc.response is not None else "").strip()
        raise PacsError(f"DICOMweb {what} at {node.name!r} ({node.url}) failed: HTTP {code}"
                        f"{': ' + body if body else ''}") from exc
    except requests.RequestException as exc:
        raise PacsError(f"DICOMweb {what} at {node.name!r} ({node.url}) failed: "
                        f"{type(exc).__name__}: {exc}; is the service up and the url "
                        "right?") from exc


def echo(node: PacsNode) -> float:
    """A one-study QIDO-RS search as a ping; the round trip in seconds."""
    web = client(node)
    t0 = time.perf_counter()
    _call(node, "search (echo)", web.search_for_studies, limit=1)
    return time.perf_counter() - t0


def _rows(found: list[dict[str, Any]], columns: Sequence[str]) -> list[dict[str, Any]]:
    from nora_lab.archive.pacs.query import _value

    rows = []
    for item in found:
        ds = Dataset.from_json(item)
        rows.append({kw: _value(ds[kw].value) if kw in ds else None for kw in columns})
    return rows


def level_query(node: PacsNode) -> Callable[[str, dict[str, str], list[str]],
                                            list[dict[str, Any]]]:
    """``ask(level, keys, columns) -> rows``: one QIDO-RS search per call, the DICOMweb
    counterpart of one C-FIND (what :func:`~.query.find` descends with)."""
    web = client(node)

    def ask(level: str, keys: dict[str, str], columns: list[str]) -> list[dict[str, Any]]:
        keys = dict(keys)
        fields = [c for c in columns if c not in keys]
        if level in ("patient", "study"):
            found = _call(node, "search for studies", web.search_for_studies,
                          search_filters=keys, fields=fields, get_remaining=True)
        elif level == "series":
            study = keys.pop("StudyInstanceUID", None)
            found = _call(node, "search for series", web.search_for_series,
                          study_instance_uid=study, search_filters=keys, fields=fields,
                          get_remaining=True)
        else:
            study, series = keys.pop("StudyInstanceUID", None), keys.pop("SeriesInstanceUID",
                                                                         None)
            found = _call(node, "search for instances", web.search_for_instances,
                          study_instance_uid=study, series_instance_uid=series,
                          search_filters=keys, fields=fields, get_remaining=True)
        rows = _rows(found, list(dict.fromkeys([*columns, *keys])))
        return _patients(rows) if level == "patient" else rows

    return ask


def _patients(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Study rows -> one row per patient, with NumberOfPatientRelatedStudies."""
    out: dict[Any, dict[str, Any]] = {}
    for r in rows:
        key = (r.get("PatientID"), r.get("PatientName"))
        if key not in out:
            out[key] = {**r, "NumberOfPatientRelatedStudies": 0}
        out[key]["NumberOfPatientRelatedStudies"] += 1
    return list(out.values())


# --- retrieve -----------------------------------------------------------------------------


def _series_rows(node: PacsNode, studies: Any, series: Any) -> list[dict[str, Any]]:
    from nora_lab.archive.pacs.query import find_series

    if isinstance(series, pd.DataFrame):
        return series.to_dict("records")
    if series is not None:
        uids = [series] if isinstance(series, str) else list(series)
        rows: list[dict[str, Any]] = []
        for uid in uids:
            rows += find_series(node, series_uid=uid).to_dict("records")
        return rows
    if isinstance(studies, pd.DataFrame):
        studies = list(studies["StudyInstanceUID"])
    uids = [studies] if isinstance(studies, str) else list(studies)
    return [r for uid in uids for r in find_series(node, study_uid=uid).to_dict("records")]


def pull(node: PacsNode, project: Any, *, studies: Any = None, series: Any = None,
         dry_run: bool = False, keep_dicom: bool | None = None,
         progress: bool | Callable[[int, int], Any] = True) -> pd.DataFrame:
    """WADO-RS retrieve of series into ``project`` (what :func:`~.retrieve.pull` does for a
    DICOMweb node; same arguments and columns)."""
    from nora_lab.archive.dicom import import_dicom
    from nora_lab.archive.pacs._plan import PLAN_COLUMNS, RESULT_COLUMNS, Item, archived, frame
    from nora_lab.archive.pacs.retrieve import _bar

    items = [Item(row=r) for r in _series_rows(node, studies, series)]
    held = archived(project, [it.uid for it in items])
    for it in items:
        n = it.row.get("NumberOfSeriesRelatedInstances")
        it.at_pacs = None if n is None or pd.isna(n) else int(n)
        it.archived = held.get(it.uid, set())
        complete = it.at_pacs is not None and len(it.archived) >= it.at_pacs > 0
        it.action = "skip (in archive)" if complete else "pull series (WADO-RS)"
    if dry_run:
        return frame(items, PLAN_COLUMNS)
    work = [it for it in items if not it.action.startswith("skip")]
    bar = _bar(progress, sum(it.to_pull or 0 for it in work))
    web = client(node)
    try:
        for it in work:
            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory(prefix="nora-wado-") as tmp:
                for ds in _call(node, "retrieve series", web.iter_series, it.study, it.uid,
                                media_types=_AS_STORED):
                    ds.save_as(Path(tmp) / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
                    it.received += 1
                    if bar is not None:
                        bar.update(1)
                report = import_dicom(project, tmp, keep_dicom=keep_dicom, progress=False)
            it.seconds = time.perf_counter() - t0
            _result(it, report)
    finally:
        if bar is not None:
            bar.close()
    for it in items:
        if it.action.startswith("skip"):
            it.status = "already imported"
    return frame(items, RESULT_COLUMNS)


def _result(it: Any, report: Any) -> None:
    mine = [s for s in report.series if s.series_uid == it.uid] or list(report.series)
    if not mine:
        it.status = "failed"
        it.reason = "nothing importable came back" + (
            f" ({report.skipped[0].reason})" if report.skipped else "")
        return
    s = mine[0]
    it.psid, it.folder = s.psid, s.series_folder
    it.status = "imported" if s.status == "converted" else s.status
    it.reason = "; ".join(s.problems) or None


# --- store --------------------------------------------------------------------------------


def store(node: PacsNode, sources: list[Any], bar: Any = None) -> None:
    """STOW-RS the push sources (``store._Source``: a path or a dataset), setting each
    one's ``status`` (sent, failed) and ``reason``."""
    import pydicom

    web = client(node)
    for k in range(0, len(sources), STOW_BATCH):
        batch = sources[k:k + STOW_BATCH]
        datasets = [s.dataset if s.dataset is not None else pydicom.dcmread(s.path)
                    for s in batch]
        answer = _call(node, "store", web.store_instances, datasets)
        failed = {str(x.ReferencedSOPInstanceUID): x.get("FailureReason")
                  for x in answer.get("FailedSOPSequence", [])}
        stored = {str(x.ReferencedSOPInstanceUID)
                  for x in answer.get("ReferencedSOPSequence", [])}
        for s in batch:
            if s.sop in failed:
                s.status, s.reason = "failed", f"STOW-RS failure reason {failed[s.sop]}"
            elif s.sop in stored:
                s.status = "sent"
            else:
                s.status, s.reason = "failed", "not in the STOW-RS answer"
            if bar is not None:
                bar.update(1)

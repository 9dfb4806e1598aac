"""Planning a pull: what is at the PACS, what the project and the incoming area hold,
what to move — one :class:`Item` per series (:func:`plan`), as a DataFrame (:func:`frame`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa
from pydicom.dataset import Dataset
from pynetdicom.sop_class import (  # type: ignore[attr-defined]  # names made at import
    StudyRootQueryRetrieveInformationModelFind,
)

from nora_lab.archive.pacs._assoc import association, status_text
from nora_lab.archive.pacs.incoming import Incoming
from nora_lab.archive.pacs.nodes import PacsConfig, PacsNode
from nora_lab.archive.pacs.query import find_series
from nora_lab.errors import ConfigError, PacsError

__all__ = ["Item", "plan", "frame", "archived", "PLAN_COLUMNS", "RESULT_COLUMNS", "UID_CHUNK"]

PLAN_COLUMNS = ["PatientID", "PatientName", "StudyDate", "StudyInstanceUID",
                "SeriesInstanceUID", "SeriesNumber", "Modality", "SeriesDescription",
                "at_pacs", "in_archive", "in_incoming", "to_pull", "action"]
RESULT_COLUMNS = [*PLAN_COLUMNS, "received", "status", "psid", "series_folder", "reason",
                  "seconds"]
UID_CHUNK = 500


@dataclass
class Item:
    row: dict[str, Any]
    archived: set[str] = field(default_factory=set)
    spooled: set[str] = field(default_factory=set)
    at_pacs: int | None = None
    pacs_sops: set[str] | None = None
    sop_classes: set[str] = field(default_factory=set)
    missing: list[str] | None = None  # None: move the whole series
    action: str = ""
    status: str = ""
    reason: str = ""
    psid: str = ""
    folder: str = ""
    seconds: float = 0.0
    received: int = 0

    @property
    def study(self) -> str:
        return str(self.row["StudyInstanceUID"])

    @property
    def uid(self) -> str:
        return str(self.row["SeriesInstanceUID"])

    @property
    def to_pull(self) -> int | None:
        if self.action.startswith("skip") or self.action == "import":
            return 0
        if self.missing is not None:
            return len(self.missing)
        return None if self.at_pacs is None else max(self.at_pacs - len(self.spooled), 0)




def _uids(value: Any, column: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, pd.DataFrame):
        if column not in value:
            raise ConfigError(f"the DataFrame given has no {column} column")
        return list(dict.fromkeys(str(v) for v in value[column].dropna()))
    if isinstance(value, pd.Series):
        return list(dict.fromkeys(str(v) for v in value.dropna()))
    if isinstance(value, str):
        return [value]
    return list(dict.fromkeys(str(v) for v in value))


def plan(node: PacsNode, cfg: PacsConfig, project: Any, incoming: Incoming,
          studies: Any, series: Any, method: str) -> list[Item]:
    rows: list[dict[str, Any]] = []
    if studies is not None:
        uids = _uids(studies, "StudyInstanceUID")
        if uids:
            rows += find_series(node, config=cfg, study_uid=uids).to_dict("records")
    if series is not None:
        if isinstance(series, pd.DataFrame) and {"StudyInstanceUID", "SeriesInstanceUID",
                                                 "NumberOfSeriesRelatedInstances"} <= \
                set(series.columns):
            rows += series.to_dict("records")
        else:
            wanted = _uids(series, "SeriesInstanceUID")
            study_uids = _uids(series, "StudyInstanceUID") \
                if isinstance(series, pd.DataFrame) and "StudyInstanceUID" in series else []
            if wanted:
                found = find_series(node, config=cfg, series_uid=wanted,
                                    **({"study_uid": study_uids} if study_uids else {}))
                missing = set(wanted) - set(found["SeriesInstanceUID"])
                if missing:
                    raise PacsError(f"{len(missing)} series are not at {node.name!r}: "
                                    f"{', '.join(sorted(missing)[:5])}")
                rows += found.to_dict("records")
    seen: set[str] = set()
    items = []
    for r in rows:
        uid = str(r["SeriesInstanceUID"])
        if uid in seen:
            continue
        seen.add(uid)
        n = r.get("NumberOfSeriesRelatedInstances")
        items.append(Item(r, at_pacs=None if n is None or pd.isna(n) else int(n)))
    held = archived(project, [it.uid for it in items])
    for it in items:
        it.archived = held.get(it.uid, set())
        folder = incoming.series_dir(project.name, it.study, it.uid)
        it.spooled = {p.name[:-4] for p in folder.glob("*.dcm")} if folder.is_dir() else set()
    need_sops = [it for it in items if method == "get" or it.at_pacs is None or
                 ((it.archived or it.spooled) and len(it.archived) < it.at_pacs)]
    if need_sops:
        _instances(node, cfg, need_sops)
    for it in items:
        _decide(it)
    return items


def archived(project: Any, series_uids: list[str]) -> dict[str, set[str]]:
    from nora_lab.archive import _db
    from nora_lab.archive.dicom._tables import dicom_instances as di

    out: dict[str, set[str]] = {}
    with _db.read(project.archive.engine) as conn:
        for i in range(0, len(series_uids), UID_CHUNK):
            for r in conn.execute(sa.select(di.c.series_uid, di.c.sop_uid).where(
                    di.c.project_id == project.pk,
                    di.c.series_uid.in_(series_uids[i:i + UID_CHUNK]))):
                out.setdefault(r.series_uid, set()).add(r.sop_uid)
    return out


def _instances(node: PacsNode, cfg: PacsConfig, items: list[Item]) -> None:
    """Fill ``pacs_sops`` and ``sop_classes`` by instance-level C-FINDs (one association)."""
    model = StudyRootQueryRetrieveInformationModelFind
    with association(node, cfg, [model]) as assoc:
        for it in items:
            q = Dataset()
            q.QueryRetrieveLevel = "IMAGE"
            q.StudyInstanceUID, q.SeriesInstanceUID = it.study, it.uid
            q.SOPInstanceUID = ""
            q.SOPClassUID = ""
            sops, classes = set(), set()
            for status, ident in assoc.send_c_find(q, model):
                if status is None or "Status" not in status:
                    raise PacsError(f"instance query of series {it.uid} at {node.name!r}: "
                                    f"{status_text(status)}")
                if status.Status in (0xFF00, 0xFF01) and ident is not None:
                    sops.add(str(ident.get("SOPInstanceUID", "")))
                    if ident.get("SOPClassUID"):
                        classes.add(str(ident.SOPClassUID))
                elif status.Status != 0:
                    raise PacsError(f"instance query of series {it.uid} at {node.name!r} "
                                    f"refused: {status_text(status)}")
            it.pacs_sops, it.sop_classes = sops - {""}, classes
            it.at_pacs = len(it.pacs_sops)


def _decide(it: Item) -> None:
    have = it.archived | it.spooled
    if it.pacs_sops is not None:
        if it.pacs_sops <= it.archived:
            it.action = "skip: already imported"
            return
        missing = sorted(it.pacs_sops - have)
        if not missing:
            it.action, it.missing = "import", []
        elif have & it.pacs_sops:
            it.action, it.missing = f"pull {len(missing)} missing instance(s)", missing
        else:
            it.action = "pull series"
        return
    if it.at_pacs is not None and len(it.archived) >= it.at_pacs > 0:
        it.action = "skip: already imported"
    else:
        it.action = "pull series"


def frame(items: list[Item], columns: list[str]) -> pd.DataFrame:
    rows = []
    for it in items:
        row = {c: it.row.get(c) for c in columns if c in it.row}
        row.update(at_pacs=it.at_pacs, in_archive=len(it.archived),
                   in_incoming=len(it.spooled), to_pull=it.to_pull, action=it.action,
                   status=it.status, psid=it.psid, series_folder=it.folder,
                   reason=it.reason, seconds=round(it.seconds, 3))
        row["received"] = it.received
        rows.append(row)
    df = pd.DataFrame(rows, columns=columns)
    for c in ("at_pacs", "in_archive", "in_incoming", "to_pull", "SeriesNumber", "received"):
        if c in df:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    return df

"""Export a project, or its filtered studies, as a BIDS dataset.

Each imported series (a NIfTI with its dcm2niix sidecar) becomes
``sub-<subject>/ses-<study>/<datatype>/sub-…_ses-…[_task-…][_run-n]_<suffix>.nii.gz`` with
its sidecar and, for diffusion, its ``.bval``/``.bvec``; names come from
:func:`~nora_lab.archive.bids.naming.bids_name`. Files without a sidecar (ROIs, surfaces,
results) are not raw data and are left out; the result's table says why for each.

Labels are the stored subject and study IDs reduced to letters and digits: in a
pseudonymized project the subject IDs are the pseudonyms, so the export carries no real
ID. Sidecar keys that name a person (``Patient*`` but ``PatientPosition``) and nora_lab's
own ``Nora*`` keys are always dropped; in a pseudonymized project also the keys that lead
back to the exam (:data:`IDENTIFYING`: UIDs, dates and times, institution, station).

The dataset is written under a temporary name beside ``dest`` and renamed at the end:
an interrupted export leaves nothing at ``dest``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nora_lab.archive.bids.naming import BidsName, bids_name, label
from nora_lab.errors import AlreadyExistsError, ForeignDataError

if TYPE_CHECKING:
    import pandas as pd

    from nora_lab.archive.project import Project

__all__ = ["export_bids", "BidsExport", "BIDS_VERSION", "EXPORT_COLUMNS", "IDENTIFYING"]

#: The BIDS version the export writes.
BIDS_VERSION = "1.10.0"
#: The columns of :attr:`BidsExport.table`.
EXPORT_COLUMNS = ["psid", "relpath", "bids_path", "action", "reason"]

_IMAGE_EXT = (".nii.gz", ".nii")
_KEEP_PATIENT = {"PatientPosition"}
#: Sidecar keys dropped in the export of a pseudonymized project.
IDENTIFYING = frozenset({
    "StudyInstanceUID", "SeriesInstanceUID", "StudyID", "AcquisitionDateTime",
    "AcquisitionDate", "SeriesDate", "StudyDate", "ContentDate", "AcquisitionTime",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName",
    "DeviceSerialNumber", "ReferringPhysicianName", "PerformingPhysicianName",
    "OperatorsName", "AccessionNumber", "StudyDescription", "ProcedureStepDescription"})


@dataclass
class BidsExport:
    """What :func:`export_bids` wrote: the dataset's ``path`` and one ``table`` row per
    image considered (``action``: ``exported`` or ``left out`` with the ``reason``)."""

    path: Path
    table: pd.DataFrame

    def __str__(self) -> str:
        done = int((self.table.action == "exported").sum())
        return (f"BIDS dataset {self.path}: {done} series exported, "
                f"{len(self.table) - done} left out")


@dataclass
class _Series:
    psid: str
    subject: str
    study: str
    relpath: str
    path: Path
    meta: dict[str, Any]
    bval: Path | None
    bvec: Path | None
    ext: str
    name: BidsName | str = ""


def export_bids(project: Project, dest: str | os.PathLike[str], *,
                filters: Mapping[str, str] | str | None = None,
                mapping: Mapping[str, str | None] | None = None,
                overwrite: bool = False) -> BidsExport:
    """Write the project's (or the filtered studies') imported series as a BIDS dataset.

    Parameters
    ----------
    project
        The project to export.
    dest
        The dataset folder to create.
    filters
        Only these studies (filter bars, as in :meth:`Project.studies`).
    mapping
        ``{glob on SeriesDescription: "datatype/[entity-label_]suffix" or None}``, tried
        before the built-in rules (see :mod:`~nora_lab.archive.bids.naming`).
    overwrite
        Replace an existing ``dest`` (it is replaced as a whole, at the end).

    Returns
    -------
    BidsExport

    Raises
    ------
    AlreadyExistsError
        ``dest`` exists and ``overwrite`` is false.
    ForeignDataError
        A sidecar cannot be read, or two subjects reduce to the same BIDS label.

    Examples
    --------
    >>> export_bids(proj, "/tmp/bids", mapping={"*localizer*": None})  # doctest: +SKIP
    """
    import pandas as pd

    dest = Path(dest).expanduser().absolute()
    if dest.exists() and not overwrite:
        raise AlreadyExistsError(f"{dest} exists: choose another folder or pass "
                                 "overwrite=True (nora --bids_export … --force)")
    series, rows = _collect(project, filters)
    subjects = _labels(project, sorted({s.subject for s in series}))
    for s in series:
        s.name = bids_name(s.meta, has_bvec=s.bvec is not None,
                           folder=s.relpath.rpartition("/")[0], mapping=mapping)
    targets = _targets(series, subjects)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".nora-tmp-{uuid.uuid4().hex[:8]}-{dest.name}")
    try:
        tmp.mkdir()
        for s in series:
            if isinstance(s.name, str):
                rows.append([s.psid, s.relpath, "", "left out", s.name])
                continue
            stem = targets[id(s)]
            _write_series(s, tmp / stem, project.naming == "pseudonym")
            rows.append([s.psid, s.relpath, stem + s.ext, "exported", ""])
        used = {s.subject for s in series if not isinstance(s.name, str)}
        _write_top(project, tmp, {k: v for k, v in subjects.items() if k in used})
        _replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    table = pd.DataFrame(rows, columns=EXPORT_COLUMNS).sort_values(["psid", "relpath"])
    return BidsExport(dest, table.reset_index(drop=True))


def _collect(project: Project, filters: Any) -> tuple[list[_Series], list[list[str]]]:
    """The images with a dcm2niix sidecar beside them; the rest as 'left out' rows."""
    files = project.files(filters=filters)
    by_path = {(r.psid, r.relpath): r for r in files.itertuples()}
    subjects = {r.psid: r.psid.split("#", 1) for r in files.itertuples()}
    series, rows = [], []
    for r in files.itertuples():
        ext = next((e for e in _IMAGE_EXT if r.name.lower().endswith(e)), None)
        if ext is None or r.filetype != "nifti":
            continue
        stem = r.relpath[: -len(ext)]
        sidecar = by_path.get((r.psid, stem + ".json"))
        if sidecar is None:
            rows.append([r.psid, r.relpath, "", "left out",
                         "no dcm2niix sidecar: not an imported series"])
            continue
        try:
            meta = json.loads(Path(sidecar.path).read_text())
        except (OSError, ValueError) as exc:
            raise ForeignDataError(f"cannot export {r.path}: its sidecar {sidecar.path} "
                                   f"is not readable JSON ({exc})") from None
        bval, bvec = by_path.get((r.psid, stem + ".bval")), by_path.get((r.psid, stem + ".bvec"))
        subject, study = subjects[r.psid]
        series.append(_Series(r.psid, subject, study, r.relpath, Path(r.path), meta,
                              Path(bval.path) if bval is not None else None,
                              Path(bvec.path) if bvec is not None and bval is not None
                              else None, ext))
    return series, rows


def _labels(project: Project, subjects: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    for sid in subjects:
        lab = label(sid)
        if not lab:
            raise ForeignDataError(f"subject {sid!r} of project {project.name!r} has no "
                                   "letters or digits for a BIDS label")
        if lab in seen:
            raise ForeignDataError(
                f"subjects {seen[lab]!r} and {sid!r} both become sub-{lab} (BIDS labels are "
                "letters and digits only); export them with filters= in two datasets")
        seen[lab], out[sid] = sid, lab
    return out


def _targets(series: list[_Series], subjects: dict[str, str]) -> dict[int, str]:
    """``id(series)`` → path stem in the dataset; ``run-n`` where names repeat."""
    groups: dict[str, list[_Series]] = {}
    for s in series:
        if isinstance(s.name, BidsName):
            sub, ses = subjects[s.subject], label(s.study) or "1"
            ents = "".join(f"_{k}-{v}" for k, v in s.name.entities.items())
            key = f"sub-{sub}/ses-{ses}/{s.name.datatype}/sub-{sub}_ses-{ses}{ents}"
            groups.setdefault(f"{key}|{s.name.suffix}", []).append(s)
    out = {}
    for key, members in groups.items():
        base, suffix = key.split("|")
        members.sort(key=lambda s: (_number(s.meta.get("SeriesNumber")), s.relpath))
        for n, s in enumerate(members, start=1):
            run = f"_run-{n}" if len(members) > 1 else ""
            out[id(s)] = f"{base}{run}_{suffix}"
    return out


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("inf")


def _sidecar(s: _Series, pseudonymized: bool) -> dict[str, Any]:
    meta = {k: v for k, v in s.meta.items() if not k.startswith("Nora")
            and (not k.startswith("Patient") or k in _KEEP_PATIENT)
            and not (pseudonymized and k in IDENTIFYING)}
    if isinstance(s.name, BidsName) and "task" in s.name.entities:
        meta.setdefault("TaskName", s.name.entities["task"])
    return meta


def _write_series(s: _Series, stem: Path, pseudonymized: bool) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(s.path, stem.with_name(stem.name + s.ext))
    stem.with_name(stem.name + ".json").write_text(
        json.dumps(_sidecar(s, pseudonymized), indent=2))
    if s.bval is not None and s.bvec is not None:
        shutil.copyfile(s.bval, stem.with_name(stem.name + ".bval"))
        shutil.copyfile(s.bvec, stem.with_name(stem.name + ".bvec"))


def _write_top(project: Project, root: Path, subjects: dict[str, str]) -> None:
    from nora_lab import __version__

    (root / "dataset_description.json").write_text(json.dumps({
        "Name": project.name, "BIDSVersion": BIDS_VERSION, "DatasetType": "raw",
        "GeneratedBy": [{"Name": "nora_lab", "Version": __version__}]}, indent=2))
    (root / "README").write_text(
        f"Exported from the nora_lab project {project.name!r}.\n"
        "Subject and session labels are the project's subject and study IDs "
        "(pseudonyms in a pseudonymized project).\n")
    tags = _tags(project, list(subjects))
    lines = ["participant_id\ttags"] + [
        f"sub-{lab}\t{','.join(tags.get(sid, [])) or 'n/a'}" for sid, lab in sorted(
            subjects.items(), key=lambda kv: kv[1])]
    (root / "participants.tsv").write_text("\n".join(lines) + "\n")
    (root / "participants.json").write_text(json.dumps({
        "tags": {"Description": "nora_lab tags of the subject and of its studies"}}, indent=2))


def _tags(project: Project, subjects: list[str]) -> dict[str, list[str]]:
    if not subjects:
        return {}
    out: dict[str, list[str]] = {}
    for r in project.subjects().itertuples():
        if r.subject in subjects:
            out[r.subject] = list(r.tags)
    for r in project.studies().itertuples():
        sid = r.psid.split("#", 1)[0]
        if sid in out:
            out[sid] += [g for g in r.tags if g not in out[sid]]
    return out


def _replace(tmp: Path, dest: Path) -> None:
    """``tmp`` becomes ``dest``; an old ``dest`` is moved aside first, removed last."""
    old = None
    if dest.exists():
        old = dest.with_name(f".nora-old-{uuid.uuid4().hex[:8]}-{dest.name}")
        os.replace(dest, old)
    try:
        os.replace(tmp, dest)
    except OSError:
        if old is not None:
            os.replace(old, dest)
        raise
    if old is not None:
        with contextlib.suppress(OSError):
            shutil.rmtree(old)

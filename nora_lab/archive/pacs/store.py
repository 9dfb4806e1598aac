"""Push DICOM to a node (C-STORE): originals the import kept, and derived objects.

>>> push("PACS1", "/data/exam/")                   # files, folders, dicom.tar.gz  # doctest: +SKIP
>>> push("PACS1", to_dicom_seg(roi, source_datasets))  # a highdicom SEG  # doctest: +SKIP
>>> push_study("PACS1", project, "P001#S1")         # the study's kept originals    # doctest: +SKIP

Files are sent raw, in the transfer syntax they are stored in (pynetdicom's chunked
sending: never decoded); in-memory datasets are encoded in the transfer syntax the peer
accepts. Instances of one push share one association (a new one per 100 SOP classes).
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from pydicom.dataset import Dataset
from pydicom.filereader import read_file_meta_info
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import _config

from nora_lab.archive.pacs._assoc import association, resolve, status_text
from nora_lab.archive.pacs.nodes import PacsConfig, PacsNode
from nora_lab.errors import ConfigError, NotFoundError

__all__ = ["push", "push_study", "PUSH_COLUMNS"]

PUSH_COLUMNS = ["source", "SOPInstanceUID", "SOPClassUID", "TransferSyntaxUID", "status",
                "reason"]
_MAX_CONTEXTS = 120


class _Source:
    __slots__ = ("label", "path", "dataset", "sop", "sop_class", "ts", "status", "reason")

    def __init__(self, label: str, path: str | None = None, dataset: Dataset | None = None):
        self.label, self.path, self.dataset = label, path, dataset
        self.sop = self.sop_class = self.ts = ""
        self.status = self.reason = ""


def _collect(items: Any, tmp: Path) -> list[_Source]:
    """Expand files, folders, ``.tar.gz`` archives and Datasets into sources."""
    if isinstance(items, (str, os.PathLike, Dataset)):
        items = [items]
    out: list[_Source] = []
    for item in items:
        if isinstance(item, Dataset):
            label = f"<dataset {item.get('SOPInstanceUID', '?')}>"
            out.append(_Source(label, dataset=item))
            continue
        p = Path(item)
        if p.is_dir():
            out += [_Source(str(f), path=str(f)) for f in sorted(p.rglob("*"))
                    if f.is_file() and not f.name.startswith(".")]
        elif p.name.endswith((".tar.gz", ".tgz", ".tar")):
            out += _untar(p, tmp)
        elif p.is_file():
            out.append(_Source(str(p), path=str(p)))
        else:
            raise NotFoundError(f"nothing to push at {p}: no such file or folder")
    return out


def _untar(path: Path, tmp: Path) -> list[_Source]:
    dest = tmp / f"t{len(list(tmp.iterdir()))}"
    dest.mkdir()
    out = []
    with tarfile.open(path) as tf:
        for m in tf.getmembers():
            if m.isfile():
                tf.extract(m, dest, filter="data")
                out.append(_Source(f"{path}:{m.name}", path=str(dest / m.name)))
    return out


def _identify(src: _Source) -> None:
    try:
        if src.dataset is not None:
            ds = src.dataset
            src.sop, src.sop_class = str(ds.SOPInstanceUID), str(ds.SOPClassUID)
            meta = getattr(ds, "file_meta", None)
            src.ts = str(getattr(meta, "TransferSyntaxUID", "") or ExplicitVRLittleEndian)
            if not getattr(meta, "TransferSyntaxUID", None):
                from pydicom.dataset import FileMetaDataset

                ds.file_meta = meta or FileMetaDataset()
                ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        else:
            meta = read_file_meta_info(src.path)  # type: ignore[arg-type]
            src.sop = str(meta.MediaStorageSOPInstanceUID)
            src.sop_class = str(meta.MediaStorageSOPClassUID)
            src.ts = str(meta.TransferSyntaxUID)
    except Exception as exc:  # noqa: BLE001 - not DICOM: reported, not sent
        src.status = "not sent"
        src.reason = f"not a DICOM file with file meta: {type(exc).__name__}: {exc}"


def push(node: PacsNode | str, items: Any, *, progress: bool = True,
         config: PacsConfig | None = None) -> pd.DataFrame:
    """C-STORE ``items`` to ``node`` (STOW-RS to a DICOMweb node).

    Parameters
    ----------
    node
        A configured node's name or a :class:`PacsNode`.
    items
        A DICOM file, a folder (recursive), a ``dicom.tar.gz`` the import kept, a pydicom
        ``Dataset`` (e.g. a highdicom ``Segmentation``), or a list of these.
    progress
        Show a tqdm progress bar.

    Returns
    -------
    pandas.DataFrame
        One row per instance (:data:`PUSH_COLUMNS`); ``status`` is ``sent``, ``warning``,
        ``failed`` or ``not sent`` with the reason.

    Raises
    ------
    PacsError
        If the node cannot be reached or refuses the association.
    NotFoundError
        A path that does not exist.
    """
    node, cfg = resolve(node, config)
    with tempfile.TemporaryDirectory(prefix="nora-push-") as tmp:
        sources = _collect(items, Path(tmp))
        for s in sources:
            _identify(s)
        todo = [s for s in sources if not s.status]
        groups: list[list[_Source]] = []
        seen: dict[tuple[str, str], int] = {}
        for s in todo:  # files: one context per (class, stored syntax); datasets: any
            key = (s.sop_class, s.ts if s.path is not None else "")
            if key not in seen:
                if not groups or len({k for k, g in seen.items() if g == len(groups) - 1}) \
                        >= _MAX_CONTEXTS:
                    groups.append([])
                seen[key] = len(groups) - 1
            groups[seen[key]].append(s)
        bar = None
        if progress and todo:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(todo), desc="push", unit="img", leave=False)
        try:
            if node.transport == "dicomweb":  # STOW-RS
                from nora_lab.archive.pacs import dicomweb

                dicomweb.store(node, todo, bar)
            for group in groups if node.transport == "dimse" else []:
                _send(node, cfg, group, bar)
        finally:
            if bar is not None:
                bar.close()
    return pd.DataFrame([{"source": s.label, "SOPInstanceUID": s.sop,
                          "SOPClassUID": s.sop_class, "TransferSyntaxUID": s.ts,
                          "status": s.status, "reason": s.reason or None} for s in sources],
                        columns=PUSH_COLUMNS)


def _send(node: PacsNode, cfg: PacsConfig, sources: list[_Source], bar: Any) -> None:
    contexts: dict[tuple[str, tuple[str, ...]], None] = {}
    for s in sources:
        syntaxes = (s.ts,) if s.path is not None else \
            (str(ExplicitVRLittleEndian), str(ImplicitVRLittleEndian))
        contexts[(s.sop_class, syntaxes)] = None
    _config.STORE_SEND_CHUNKED_DATASET = True  # files go out raw, never decoded
    with association(node, cfg, [(c, list(ts)) for c, ts in contexts]) as assoc:
        accepted = {(str(cx.abstract_syntax), str(cx.transfer_syntax[0]))
                    for cx in assoc.accepted_contexts}
        for n, s in enumerate(sources):
            if s.path is not None and (s.sop_class, s.ts) not in accepted:
                s.status = "not sent"
                s.reason = (f"{node.name!r} accepts no {UID(s.sop_class).name} in "
                            f"{UID(s.ts).name} (files are sent as stored, not transcoded)")
            else:
                try:
                    status = assoc.send_c_store(s.dataset if s.dataset is not None
                                                else s.path, msg_id=n % 65535 + 1)
                except (ValueError, AttributeError) as exc:
                    s.status, s.reason = "not sent", str(exc)
                else:
                    code = status.get("Status") if status is not None else None
                    if code == 0x0000:
                        s.status = "sent"
                    elif code is not None and (code & 0xF000) == 0xB000:
                        s.status, s.reason = "warning", status_text(status)
                    else:
                        s.status, s.reason = "failed", status_text(status)
                        if code is None:
                            break
            if bar is not None:
                bar.update(1)
        for s in sources:
            if not s.status:
                s.status, s.reason = "not sent", "the association ended first"


def push_study(node: PacsNode | str, project: Any, psid: str, *,
               series: Iterable[str] | None = None, progress: bool = True,
               config: PacsConfig | None = None) -> pd.DataFrame:
    """Push the original DICOM the import kept (``<series>/dicom.tar.gz``) of a study.

    Parameters
    ----------
    series
        Series folders to push (default: every series with kept originals).

    Raises
    ------
    ConfigError
        If no series of the study kept its originals (import with ``keep_dicom=True``).
    """
    wanted = set(series) if series is not None else None
    tars = [Path(p) for p in project.files("dicom.tar.gz", psid=psid)["path"]
            if wanted is None or Path(p).parent.name in wanted]
    if not tars:
        raise ConfigError(f"study {psid!r} of {project.name!r} has no kept originals "
                          f"({'series ' + ', '.join(sorted(wanted)) if wanted else 'any series'}"
                          "): import it with keep_dicom=True to push originals back")
    return push(node, tars, progress=progress, config=config)

"""One received C-STORE, filed raw into the incoming area (node and C-GET alike)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pynetdicom.dsutils import encode_file_meta

from nora_lab.archive.pacs._header import HeaderError, study_series_uids
from nora_lab.archive.pacs.incoming import Incoming

__all__ = ["receive", "file_parts", "REFUSED_UNREADABLE", "REFUSED_NO_ROUTE",
           "OUT_OF_RESOURCES"]

log = logging.getLogger("nora_lab.pacs")

_PREAMBLE = b"\x00" * 128 + b"DICM"
REFUSED_UNREADABLE = 0xC210  # cannot understand: the dataset does not parse
REFUSED_NO_ROUTE = 0xC211  # cannot understand: no project for this sender
OUT_OF_RESOURCES = 0xA700


def file_parts(event: Any) -> list[Any]:
    """A received instance as a DICOM file, in pieces: preamble, file meta, dataset
    (the dataset's buffer as sent — never decoded, never copied)."""
    return [_PREAMBLE, encode_file_meta(event.file_meta), event.request.DataSet.getbuffer()]


def receive(incoming: Incoming, event: Any,
            route: Callable[[str, str], str | None],
            before_write: Callable[[str, str, str], None] | None = None
            ) -> tuple[int, tuple[str, str, str] | None]:
    """File the instance of a C-STORE event; ``(status, (project, study, series))``.

    ``route(study_uid, series_uid)`` names the project (None: refuse);
    ``before_write(project, study, series)`` runs first (the node's journal).
    """
    req = event.request
    calling = event.assoc.requestor.ae_title or ""
    sop = str(req.AffectedSOPInstanceUID or "")
    try:
        study, series = study_series_uids(req.DataSet, event.context.transfer_syntax)
    except HeaderError as exc:
        where = incoming.reject([req.DataSet.getbuffer()], f"SOP {sop}: {exc}", calling)
        log.warning("refused an instance from %s: %s (kept as %s)", calling, exc, where)
        return REFUSED_UNREADABLE, None
    project = route(study, series)
    if project is None:
        log.warning("refused SOP %s from %s: no project is mapped to it", sop, calling)
        return REFUSED_NO_ROUTE, None
    try:
        if before_write is not None:
            before_write(project, study, series)
        incoming.write(project, study, series, sop, file_parts(event))
    except OSError as exc:
        log.error("cannot store %s from %s: %s", sop, calling, exc)
        return OUT_OF_RESOURCES, None
    return 0x0000, (project, study, series)

"""Which per-UID series dcm2niix stacks into one output: its rules, followed exactly.

The import groups instances by (StudyInstanceUID, SeriesInstanceUID, SeriesNumber) and
hands each series to dcm2niix on its own (:mod:`._convert`). dcm2niix, run on a whole
folder, groups differently in a few cases: it stacks images *across* series. Whatever
it stacks into one output, the import merges into one series here, before conversion,
so that dcm2niix sees the same files together and the archive files one series.

dcm2niix's grouping (``nii_dicom_batch.cpp``: the ``seriesUidCrc`` sort, then
``isSameSet`` against the first image of each set; ``nii_dicom.cpp`` for the kludges)
has two steps, mirrored by :func:`stack_key` and :func:`signature`:

1. **The outer key** (``seriesUidCrc``): the SeriesInstanceUID, except

   * Siemens XA "classic" (single-frame) images with a SeriesTime (issue 394): the
     key is the SeriesTime. An XA 4D run exported as series 5001, 5002, … (one volume
     each, their own UIDs) is one 4D output;
   * Siemens ``fldyn3d1`` DCE before XA (issue 252): the key is the ProtocolName, so
     the DCE phases of several series are one 4D output.

   Both are *stackable*: their series numbers may differ. Otherwise series numbers
   must match, with two exceptions among images of one SeriesInstanceUID: Siemens
   XA10–XA31 numbers above 1000 in the same thousand (16001, 16002, …; issue 236), and
   early Siemens DWI (VB12/VB13, ``_ep_b`` sequences) of one protocol.

2. **The stacking test** (``isSameSet``): images with the same outer key stack only if
   they agree on manufacturer, modality, derived or not, rows/columns/frames, study
   date and time (not compared for XA10–XA31), phase/real/imaginary, TR, flip angle,
   TE, echo number, protocol name and orientation.

Two series are merged when some of their images agree on both: then dcm2niix writes
an output holding images of both. dcm2niix's finer splits *inside* a series (echoes,
phase and magnitude, orientations, derived images) need nothing here: it is handed the
whole series and its outputs come back as files of that one series.

Not mirrored (noted in the docs): the receive-coil comparison (a private Siemens
element), the ImplementationVersionName that also marks XA10A, and stacking across
StudyInstanceUIDs with the same study date and time (a series belongs to one study).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

from nora_lab.archive.dicom._instance import Instance

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.archive.dicom._group import Series

__all__ = ["stack_key", "signature", "stack_like_dcm2niix"]

_XA10A = ("XA10", "XA11", "XA20", "XA30", "XA31")
_XA = (*_XA10A, "XA5", "XA6", "XA7")


def _siemens(i: Instance) -> bool:
    return i.manufacturer[:2].upper() == "SI"


def _xa10a(i: Instance) -> bool:
    v = i.software_versions
    return len(v) > 4 and any(x in v for x in _XA10A)


def _xa(i: Instance) -> bool:
    v = i.software_versions
    return len(v) > 4 and any(x in v for x in _XA)


def stack_key(i: Instance) -> tuple[Hashable, ...]:
    """dcm2niix's outer grouping key of one image (its ``seriesUidCrc`` and the series
    number rule).

    Images with different keys never share an output; images of different per-UID series
    with the same key may (if :func:`signature` agrees too).
    """
    number = i.series_number
    if _siemens(i) and len(i.series_time) > 1 and _xa(i) and i.frames <= 1:
        return ("SeriesTime", i.series_time)  # issue 394: series numbers ignored
    if _siemens(i) and "fldyn3d1" in i.sequence_name and not _xa10a(i):
        return ("ProtocolName", i.protocol_name)  # issue 252: DCE series stacked
    if _xa10a(i) and number is not None and number > 1000:
        return ("SeriesInstanceUID", i.series_uid, "XA10A", number // 1000)  # issue 236
    if (_siemens(i) and len(i.sequence_name) > 4 and "_ep_b" in i.sequence_name
            and any(v in i.software_versions for v in ("VB12", "VB13"))):
        return ("SeriesInstanceUID", i.series_uid, "early DWI", i.protocol_name)
    return ("SeriesInstanceUID", i.series_uid, number)


def _float(text: str) -> float | None:
    try:
        return round(float(text.split("\\")[0]), 4) if text else None
    except ValueError:
        return None


def _image_type_flags(i: Instance) -> tuple[bool, bool, bool, bool]:
    """(derived, phase, real, imaginary) as dcm2niix reads ImageType."""
    joined = "_" + "_".join(t.upper() for t in i.image_type) + "_"
    derived = "DERIVED" in joined or any(f"_{t}_" in joined
                                         for t in ("ADC", "TRACEW", "TRACE", "FA"))
    phase = "_P_" in joined or "PHASE" in joined
    real = "_R_" in joined or "_REAL_" in joined
    imaginary = "_I_" in joined or "_IMAGINARY_" in joined
    return derived, phase, real, imaginary


def signature(i: Instance) -> tuple[Hashable, ...]:
    """What dcm2niix's ``isSameSet`` compares: images of one :func:`stack_key` stack
    into one output when their signatures are equal."""
    orientation = tuple(round(v, 4) for v in i.orientation) if i.orientation else None
    when = None if _xa10a(i) else (i.study_date, i.study_time)
    return (i.manufacturer[:2].upper(), i.modality, _image_type_flags(i), i.rows, i.columns,
            i.frames, when, _float(i.repetition_time), _float(i.flip_angle),
            _float(i.echo_time), i.echo_number, i.protocol_name, orientation)


def stack_like_dcm2niix(series: list[Series]) -> list[Series]:
    """Merge the series of one study that dcm2niix would stack into one output.

    Parameters
    ----------
    series
        The per-UID series of one study (each with its instances).

    Returns
    -------
    list of Series
        The same objects where nothing merges; a merged series keeps the first part's
        UID and number, holds every part's instances, lists the parts in ``parts`` and
        says in a note why they were merged.
    """
    by_key: dict[tuple[Hashable, ...], list[int]] = {}
    for n, s in enumerate(series):
        for key in {stack_key(i) for i in s.instances}:
            by_key.setdefault(key, []).append(n)
    shared = {k: ns for k, ns in by_key.items() if len(ns) > 1}
    if not shared:
        return series
    parent = list(range(len(series)))

    def root(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for key, members in shared.items():
        first: dict[Hashable, int] = {}
        for n in members:
            for i in series[n].instances:
                if stack_key(i) != key:
                    continue
                m = first.setdefault(signature(i), n)
                if root(m) != root(n):
                    parent[max(root(m), root(n))] = min(root(m), root(n))
    groups: dict[int, list[Series]] = {}
    for n, s in enumerate(series):
        groups.setdefault(root(n), []).append(s)
    return [_merge(parts) if len(parts) > 1 else parts[0] for parts in groups.values()]


def _merge(parts: list[Series]) -> Series:
    parts = sorted(parts, key=lambda s: (s.series_number is None, s.series_number or 0,
                                         s.series_uid))
    head = parts[0]
    merged = type(head)(head.study_uid, head.series_uid, head.series_number)
    merged.parts = [key for s in parts for key in s.part_keys]
    merged.instances = [i for s in parts for i in s.instances]
    numbers = [s.series_number for s in parts]
    uids = {s.series_uid for s in parts}
    why = _reason(head.first)
    merged.notes.append(
        f"{len(parts)} series merged into one, as dcm2niix stacks them ({why}): series "
        f"number(s) {', '.join(str(n) for n in numbers)}, {len(uids)} SeriesInstanceUID(s)")
    return merged


def _reason(i: Instance) -> str:
    kind = stack_key(i)
    if kind[0] == "SeriesTime":
        return "Siemens XA classic DICOM of one SeriesTime, dcm2niix issue 394"
    if kind[0] == "ProtocolName":
        return "Siemens fldyn3d1 DCE of one protocol, dcm2niix issue 252"
    if "XA10A" in kind:
        return "Siemens XA10A series numbers of one thousand, dcm2niix issue 236"
    return "early Siemens DWI of one protocol"

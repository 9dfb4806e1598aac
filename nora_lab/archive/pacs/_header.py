"""Read the few UIDs a receiver needs from an encoded dataset, without decoding it."""

from __future__ import annotations

import zlib
from io import BytesIO
from typing import BinaryIO

from pydicom.filereader import read_dataset
from pydicom.uid import UID

__all__ = ["study_series_uids", "HeaderError"]

_STUDY, _SERIES = 0x0020000D, 0x0020000E
_DEFLATED = "1.2.840.10008.1.2.1.99"


class HeaderError(ValueError):
    """The dataset cannot be parsed far enough to file it."""


def study_series_uids(stream: BinaryIO, transfer_syntax: str) -> tuple[str, str]:
    """``(StudyInstanceUID, SeriesInstanceUID)`` of an encoded dataset (no file meta).

    Parsing stops right after the Series Instance UID, so the pixel data is never read.

    Raises
    ------
    HeaderError
        If the stream is not a dataset in ``transfer_syntax`` or lacks either UID.
    """
    ts = UID(transfer_syntax)
    try:
        stream.seek(0)
        if ts == _DEFLATED:
            stream = BytesIO(zlib.decompress(stream.read(), -zlib.MAX_WBITS))
        ds = read_dataset(stream, ts.is_implicit_VR, ts.is_little_endian,
                          stop_when=lambda tag, vr, length: tag > _SERIES,
                          specific_tags=[_STUDY, _SERIES])
        study = str(ds[_STUDY].value or "").strip("\0 ") if _STUDY in ds else ""
        series = str(ds[_SERIES].value or "").strip("\0 ") if _SERIES in ds else ""
    except HeaderError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parse failure is the same outcome
        raise HeaderError(f"not a readable DICOM dataset in {ts.name}: "
                          f"{type(exc).__name__}: {exc}") from None
    finally:
        stream.seek(0)
    if not study or not series:
        raise HeaderError("the dataset has no "
                          + ("StudyInstanceUID" if not study else "SeriesInstanceUID"))
    return study, series

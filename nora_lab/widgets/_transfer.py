"""Binary layer transfer between the kernel and the viewer's front end.

Voxels, vertices and streamline points never travel as JSON. A layer's data
is one byte buffer made of named *parts* (a volume: a 352-byte NIfTI-1
header then the raw voxels; a mesh: vertices then faces; fibers: points
then offsets). It is sent as custom comm messages, each carrying one binary
buffer of at most ``chunk_bytes``::

    {"type": "begin", "id", "version", "kind", "total", "parts": [{name, offset, nbytes}]}
    {"type": "chunk", "id", "version", "offset"}            + 1 buffer
    {"type": "end",   "id", "version", "seq"}

The front end allocates ``total`` bytes once at ``begin`` and copies each
chunk to its offset, so a 512×512×400 CT (200 MB of int16) arrives in ~25
messages, the page stays responsive and nothing is copied twice. Chunks
are zero-copy views of the layer's array. Parts start on 8-byte
boundaries so the front end can view them as typed arrays in place.

Volumes travel compressed (``encoding: "gzip"`` in ``begin``, one part
``"gzip"``; the page inflates it with the browser's native
``DecompressionStream``): a ``.nii.gz`` or ``.mgz`` opened from disk goes as
the file's own bytes (``format`` ``"nii"`` / ``"mgh"``), so the socket carries
what the disk holds; anything else is the NIfTI above, gzipped at level 1 by
:func:`gzip_volume` (fast; voxels of medical images shrink 3–10×).
``Viewer(compress=False)`` sends raw parts as described first.

ROI edits travel the same way but small: ``{"type": "mask_diff", "id",
"bbox": [x0, x1, y0, y1, z0, z1], "seq"}`` + the bbox's uint8 voxels
(x fastest).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ._sources import VolumeData

__all__ = ["DEFAULT_CHUNK_BYTES", "bytes_view", "gzip_volume", "layout_parts", "payload_messages",
           "send_payload", "stored_gzip"]

_STORED_FORMATS = {".nii.gz": "nii", ".mgz": "mgh"}

DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024
_ALIGN = 8


def bytes_view(a: np.ndarray) -> np.ndarray:
    """A flat uint8 view of a C- or F-contiguous array, in its memory order."""
    flat = a.reshape(-1, order="F" if (a.flags.f_contiguous and not a.flags.c_contiguous) else "C")
    if not np.shares_memory(flat, a) and a.size > 1:  # pragma: no cover - guarded by callers
        raise AssertionError("array is not contiguous")
    return flat.view(np.uint8)


def stored_gzip(data: VolumeData) -> tuple[np.ndarray, str] | None:
    """The file a volume was opened from, as stored, if the page can show exactly it.

    Only a gzipped NIfTI or MGH file (``.nii.gz``, ``.mgz``) holding one 3-D volume of
    the shape the kernel holds; returns ``(bytes, format)`` or None.
    """
    path = Path(data.origin)
    fmt = next((f for suf, f in _STORED_FORMATS.items() if path.name.lower().endswith(suf)),
               None)
    if fmt is None or not path.is_file():
        return None
    try:
        import nibabel as nib

        shape = tuple(int(n) for n in nib.load(str(path)).shape)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - whatever nibabel says, the raw path still works
        return None
    if shape != data.shape:  # 4-D, or reshaped on opening
        return None
    with open(path, "rb") as fh:
        blob = np.frombuffer(fh.read(), dtype=np.uint8)
    if blob[:2].tobytes() != b"\x1f\x8b":
        return None
    return blob, fmt


def gzip_volume(parts: list[tuple[str, np.ndarray]], level: int = 1) -> np.ndarray:
    """The parts of a volume (header, voxels), laid out as :func:`layout_parts` does,
    as one gzip stream."""
    layout, total = layout_parts(parts)
    z = zlib.compressobj(level, zlib.DEFLATED, 31)
    out, pos = [], 0
    for spec, (_, arr) in zip(layout, parts, strict=True):
        if spec["offset"] > pos:
            out.append(z.compress(bytes(spec["offset"] - pos)))
        flat = arr.reshape(-1).view(np.uint8)
        for start in range(0, flat.size, DEFAULT_CHUNK_BYTES):
            out.append(z.compress(flat[start : start + DEFAULT_CHUNK_BYTES].data))
        pos = spec["offset"] + spec["nbytes"]
    out.append(z.flush())
    return np.frombuffer(b"".join(out), dtype=np.uint8)


def layout_parts(parts: list[tuple[str, np.ndarray]]) -> tuple[list[dict], int]:
    """Byte offsets of each part in the assembled buffer, and its total size."""
    out, pos = [], 0
    for name, arr in parts:
        pos = (pos + _ALIGN - 1) // _ALIGN * _ALIGN
        out.append({"name": name, "offset": pos, "nbytes": int(arr.nbytes)})
        pos += int(arr.nbytes)
    return out, pos


def payload_messages(
    layer_id: str,
    version: int,
    kind: str,
    parts: list[tuple[str, np.ndarray]],
    seq: int,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    **extra: Any,
) -> Iterator[tuple[dict, list[memoryview]]]:
    """Yield ``(content, buffers)`` for every message of one layer transfer; ``extra``
    (``encoding``, ``format``) goes into ``begin``."""
    if chunk_bytes < 1:
        raise ValueError("chunk_bytes must be positive")
    layout, total = layout_parts(parts)
    yield {"type": "begin", "id": layer_id, "version": version, "kind": kind,
           "total": total, "parts": layout, **extra}, []
    for spec, (_, arr) in zip(layout, parts, strict=True):
        flat = arr.reshape(-1).view(np.uint8)
        for start in range(0, flat.size, chunk_bytes):
            piece = flat[start : start + chunk_bytes]
            yield ({"type": "chunk", "id": layer_id, "version": version,
                    "offset": spec["offset"] + start}, [memoryview(piece)])  # type: ignore[arg-type]
    yield {"type": "end", "id": layer_id, "version": version, "seq": seq}, []


def send_payload(send: Callable[..., None], *args, **kwargs) -> int:
    """Send every message of a transfer through ``send(content, buffers)``;
    returns the number of payload bytes sent."""
    nbytes = 0
    for content, buffers in payload_messages(*args, **kwargs):
        send(content, buffers)
        nbytes += sum(b.nbytes for b in buffers)
    return nbytes

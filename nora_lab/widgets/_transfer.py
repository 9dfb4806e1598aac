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

ROI edits travel the same way but small: ``{"type": "mask_diff", "id",
"bbox": [x0, x1, y0, y1, z0, z1], "seq"}`` + the bbox's uint8 voxels
(x fastest).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

__all__ = ["DEFAULT_CHUNK_BYTES", "bytes_view", "layout_parts", "payload_messages", "send_payload"]

DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024
_ALIGN = 8


def bytes_view(a: np.ndarray) -> np.ndarray:
    """A flat uint8 view of a C- or F-contiguous array, in its memory order."""
    flat = a.reshape(-1, order="F" if (a.flags.f_contiguous and not a.flags.c_contiguous) else "C")
    if not np.shares_memory(flat, a) and a.size > 1:  # pragma: no cover - guarded by callers
        raise AssertionError("array is not contiguous")
    return flat.view(np.uint8)


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
) -> Iterator[tuple[dict, list[memoryview]]]:
    """Yield ``(content, buffers)`` for every message of one layer transfer."""
    if chunk_bytes < 1:
        raise ValueError("chunk_bytes must be positive")
    layout, total = layout_parts(parts)
    yield {"type": "begin", "id": layer_id, "version": version, "kind": kind,
           "total": total, "parts": layout}, []
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

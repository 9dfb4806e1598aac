"""The DICOM upper layer's wire format, as our node's acceptor needs it.

Reading PDUs from a socket into a reused buffer, the A-ABORT and A-RELEASE-RP PDUs,
command sets (implicit VR little endian, group 0000) parsed and built with ``struct``,
and the preamble + file meta that turn a received dataset into a DICOM file. Association
PDUs and C-FIND identifiers are left to pynetdicom (see :mod:`._acceptor`).
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID as IMPL_UID

__all__ = ["Reader", "ProtocolError", "abort_pdu", "RELEASE_RP", "parse_command", "command",
           "file_meta", "MAX_PDU", "IMPL_UID", "IMPL_VERSION", "VERIFICATION", "NO_DATASET",
           "C_STORE_RQ", "C_STORE_RSP", "C_ECHO_RQ", "C_ECHO_RSP", "C_FIND_RQ", "C_FIND_RSP",
           "C_CANCEL_RQ"]

MAX_PDU = 4 * 1024 * 1024  # the largest P-DATA-TF we ask peers to send
_PDU_LIMIT = 256 * 1024 * 1024  # larger claimed lengths are protocol errors
VERIFICATION = "1.2.840.10008.1.1"
IMPL_VERSION = "NORA_LAB_0.1"
C_STORE_RQ, C_STORE_RSP = 0x0001, 0x8001
C_ECHO_RQ, C_ECHO_RSP = 0x0030, 0x8030
C_FIND_RQ, C_FIND_RSP = 0x0020, 0x8020
C_CANCEL_RQ = 0x0FFF
NO_DATASET = 0x0101


def _recv_into(sock: socket.socket, view: memoryview) -> None:
    while view:
        n = sock.recv_into(view)
        if n == 0:
            raise ConnectionError("the peer closed the connection")
        view = view[n:]


class Reader:
    """Reads PDUs into one reused buffer (a bigger one when a PDU needs it)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.head = memoryview(bytearray(6))
        self.buf = bytearray(256 * 1024)

    def read(self) -> tuple[int, memoryview]:
        """``(PDU type, body)``; the body is valid until the next read."""
        _recv_into(self.sock, self.head)
        pdu_type, _, length = struct.unpack(">BBL", self.head)
        if pdu_type not in range(1, 8) or length > _PDU_LIMIT:
            raise ProtocolError(f"not a DICOM upper-layer PDU (type 0x{pdu_type:02X}, "
                                f"length {length})")
        if len(self.buf) < length:
            self.buf = bytearray(max(length, 2 * len(self.buf)))
        view = memoryview(self.buf)[:length]
        _recv_into(self.sock, view)
        return pdu_type, view


class ProtocolError(Exception):
    """The peer broke the DICOM upper-layer protocol."""


def abort_pdu(source: int = 2, reason: int = 0) -> bytes:
    return struct.pack(">BBLBBBB", 0x07, 0, 4, 0, 0, source, reason)


RELEASE_RP = struct.pack(">BBLL", 0x06, 0, 4, 0)


# --- command sets (implicit VR little endian, group 0000) -------------------------------

_UI_TAGS = {0x0002, 0x0003, 0x1000, 0x1001, 0x0600, 0x1030}  # UI / AE-valued command elements


def parse_command(raw: bytes) -> dict[int, Any]:
    """The elements of a command set: ``{element number: value}``."""
    out: dict[int, Any] = {}
    pos, end = 0, len(raw)
    while pos + 8 <= end:
        group, elem, length = struct.unpack_from("<HHL", raw, pos)
        pos += 8
        value = raw[pos:pos + length]
        pos += length
        if group != 0:
            continue
        if length == 2 and elem not in _UI_TAGS:
            out[elem] = struct.unpack("<H", value)[0]
        elif length == 4 and elem == 0x0000:
            out[elem] = struct.unpack("<L", value)[0]
        else:
            out[elem] = bytes(value).rstrip(b"\0 ").decode("ascii", "replace")
    return out


def _element(elem: int, value: int | str, vr: str) -> bytes:
    if vr == "US":
        return struct.pack("<HHLH", 0, elem, 2, value)
    data = str(value).encode("ascii")
    if len(data) % 2:
        data += b"\0" if vr == "UI" else b" "
    return struct.pack("<HHL", 0, elem, len(data)) + data


def command(*elements: tuple[int, int | str, str]) -> bytes:
    body = b"".join(_element(e, v, vr) for e, v, vr in sorted(elements))
    return struct.pack("<HHLL", 0, 0, 4, len(body)) + body


def file_meta(sop_class: str, sop_uid: str, ts: str, source_aet: str = "") -> bytes:
    """Preamble, ``DICM`` and the group 0002 file meta (explicit VR little endian): the
    bytes that make a received dataset a DICOM file."""
    def el(elem: int, vr: bytes, data: bytes, pad: bytes) -> bytes:
        if len(data) % 2:
            data += pad
        if vr == b"OB":
            return struct.pack("<HH2sHL", 2, elem, vr, 0, len(data)) + data
        return struct.pack("<HH2sH", 2, elem, vr, len(data)) + data

    items = (el(0x0001, b"OB", b"\x00\x01", b"")
             + el(0x0002, b"UI", sop_class.encode(), b"\0")
             + el(0x0003, b"UI", sop_uid.encode(), b"\0")
             + el(0x0010, b"UI", ts.encode(), b"\0")
             + el(0x0012, b"UI", IMPL_UID.encode(), b"\0")
             + el(0x0013, b"SH", IMPL_VERSION.encode(), b" ")
             + (el(0x0016, b"AE", source_aet.encode("ascii", "replace"), b" ")
                if source_aet else b""))
    return b"\x00" * 128 + b"DICM" + struct.pack("<HH2sHL", 2, 0, b"UL", 4, len(items)) \
        + items

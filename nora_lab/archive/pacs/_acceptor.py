"""The DICOM upper layer of our node: one thread per association, blocking reads.

pynetdicom's acceptor runs two threads per association that hand every PDU and message
to each other through queues polled every millisecond; receiving a study that way costs
three times what dcmtk's ``storescp`` needs. This module keeps pynetdicom for everything
that is protocol knowledge — decoding the A-ASSOCIATE-RQ, negotiating presentation
contexts (:func:`pynetdicom.presentation.negotiate_as_acceptor`), encoding the
A-ASSOCIATE-AC/RJ, encoding and decoding C-FIND identifiers — and runs the data phase as
``storescp`` does: read a PDU, collect its PDVs, answer when a message is complete.

The *service* (our :class:`~nora_lab.archive.pacs.scp.DicomNode`) is called with plain
values: :meth:`Service.accept` (reject or accept an association), :meth:`Service.store`
(one instance: its dataset bytes as received), :meth:`Service.find` (C-FIND matches) and
:meth:`Service.closed` (released or not). C-ECHO is answered here.

Supported: A-ASSOCIATE (all storage SOP classes in every transfer syntax, Verification,
Patient/Study Root C-FIND), P-DATA with any PDU size and fragmentation, C-STORE, C-ECHO,
C-FIND (C-CANCEL ends it), A-RELEASE, A-ABORT; one operation at a time (no asynchronous
operations window is granted). Anything else is refused with a status or an A-ABORT.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any, Protocol

from pydicom.uid import UID

from nora_lab.archive.pacs._dimse import (
    C_CANCEL_RQ,
    C_ECHO_RQ,
    C_ECHO_RSP,
    C_FIND_RQ,
    C_FIND_RSP,
    C_STORE_RQ,
    C_STORE_RSP,
    IMPL_UID,
    IMPL_VERSION,
    MAX_PDU,
    NO_DATASET,
    RELEASE_RP,
    VERIFICATION,
    ProtocolError,
    Reader,
    abort_pdu,
    parse_command,
)
from nora_lab.archive.pacs._dimse import command as build_command
from nora_lab.archive.pacs._net import nodelay

__all__ = ["Acceptor", "Association", "Service", "storage_contexts"]

log = logging.getLogger("nora_lab.pacs")



class Service(Protocol):
    """What the acceptor calls; every method runs in the association's thread."""

    def accept(self, assoc: Association) -> str | None:
        """None to accept, else why the association is rejected."""

    def store(self, assoc: Association, transfer_syntax: str, sop_class: str, sop_uid: str,
              dataset: bytearray) -> int:
        """File one instance; the C-STORE status."""

    def find(self, assoc: Association, sop_class: str, identifier: Any
             ) -> Iterable[tuple[int, Any]]:
        """``(status, identifier or None)`` responses to a C-FIND."""

    def closed(self, assoc: Association, released: bool, reason: str) -> None:
        """The association ended: released normally or not (and why)."""


@dataclass
class Association:
    """One association as the service sees it."""

    calling: str = ""
    called: str = ""
    peer: tuple[str, int] = ("", 0)
    max_send: int = 16384  # the peer's maximum PDU length (0: unlimited)
    contexts: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (class, ts)
    data: dict[str, Any] = field(default_factory=dict)  # the service's own state
    instances: int = 0


# --- the association loop -----------------------------------------------------------------


class _Session:
    """Runs one association on a connected socket."""

    def __init__(self, acceptor: Acceptor, sock: socket.socket, peer: tuple[str, int]):
        self.acc, self.sock = acceptor, sock
        self.assoc = Association(peer=peer)
        self.reader = Reader(sock)
        self.released = False
        self.reason = ""

    def run(self) -> None:
        sock = self.sock
        sock.settimeout(self.acc.network_timeout)
        established = False
        try:
            pdu_type, body = self.reader.read()
            if pdu_type != 0x01:
                raise ProtocolError(f"expected an A-ASSOCIATE-RQ, got PDU type {pdu_type}")
            established = self._associate(bytes(body))
            if established:
                self._data_phase()
        except ProtocolError as exc:
            self.reason = f"protocol error: {exc}"
            log.warning("association from %s: %s", self.assoc.peer[0], exc)
            self._send_quietly(abort_pdu(2, 0))
        except TimeoutError:
            self.reason = f"timed out after {self.acc.network_timeout:g} s of silence"
            self._send_quietly(abort_pdu(2, 0))
        except (ConnectionError, OSError) as exc:
            self.reason = self.reason or f"connection lost ({exc})"
        finally:
            if established:
                try:
                    self.acc.service.closed(self.assoc, self.released,
                                            self.reason or "connection lost")
                except Exception:  # noqa: BLE001
                    log.exception("closing an association failed")

    def _send_quietly(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            pass

    # --- association establishment ---------------------------------------------------------
    def _associate(self, body: bytes) -> bool:
        from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_ASSOCIATE_RQ
        from pynetdicom.pdu_primitives import (
            A_ASSOCIATE,
            ImplementationClassUIDNotification,
            ImplementationVersionNameNotification,
            MaximumLengthNotification,
            SCP_SCU_RoleSelectionNegotiation,
        )
        from pynetdicom.presentation import negotiate_as_acceptor

        pdu = A_ASSOCIATE_RQ()
        try:
            pdu.decode(struct.pack(">BBL", 1, 0, len(body)) + body)
            rq = pdu.to_primitive()
        except Exception as exc:  # noqa: BLE001
            raise ProtocolError(f"unreadable A-ASSOCIATE-RQ: {exc}") from None
        a = self.assoc
        a.calling = str(rq.calling_ae_title or "").strip()
        a.called = str(rq.called_ae_title or "").strip()
        roles: dict[str, tuple[Any, Any]] = {}
        for item in rq.user_information:
            if isinstance(item, MaximumLengthNotification):
                a.max_send = int(item.maximum_length_received or 0)
            elif isinstance(item, SCP_SCU_RoleSelectionNegotiation):
                roles[str(item.sop_class_uid)] = (item.scu_role, item.scp_role)
        why = "too many associations at once" if self.acc.at_limit() else \
            self.acc.service.accept(a)
        if why is not None:
            rj = A_ASSOCIATE()
            rj.result, rj.result_source = 0x01, 0x01
            rj.diagnostic = 0x03 if "calling" in why else (0x07 if "called" in why else 0x01)
            if why.startswith("too many"):
                rj.result, rj.result_source, rj.diagnostic = 0x02, 0x03, 0x02
            out = A_ASSOCIATE_RJ()
            out.from_primitive(rj)
            self.sock.sendall(out.encode())
            log.info("rejected an association from %s: %s", a.calling, why)
            return False
        result, ac_roles = negotiate_as_acceptor(
            rq.presentation_context_definition_list, self.acc.contexts, roles or None)  # type: ignore[arg-type]
        for cx in result:
            if cx.result == 0x00:
                a.contexts[int(cx.context_id)] = (str(cx.abstract_syntax),  # type: ignore[arg-type]
                                                  str(cx.transfer_syntax[0]))
        ac = A_ASSOCIATE()
        ac.application_context_name = UID("1.2.840.10008.3.1.1.1")
        ac.calling_ae_title, ac.called_ae_title = rq.calling_ae_title, rq.called_ae_title
        ac.result, ac.result_source = 0x00, 0x01
        ac.presentation_context_definition_results_list = result
        ml = MaximumLengthNotification()
        ml.maximum_length_received = MAX_PDU
        ic = ImplementationClassUIDNotification()
        ic.implementation_class_uid = UID(IMPL_UID)
        iv = ImplementationVersionNameNotification()
        iv.implementation_version_name = IMPL_VERSION
        ac.user_information = [ml, ic, iv, *ac_roles]
        out = A_ASSOCIATE_AC()  # type: ignore[assignment]
        out.from_primitive(ac)
        self.sock.sendall(out.encode())
        return True

    # --- data phase ------------------------------------------------------------------------
    def _data_phase(self) -> None:
        sock, read = self.sock, self.reader.read
        command = bytearray()
        dataset = bytearray()
        cmd: dict[int, Any] | None = None
        cx_id = 0
        while True:
            pdu_type, body = read()
            if pdu_type == 0x05:  # A-RELEASE-RQ
                sock.sendall(RELEASE_RP)
                self.released = True
                return
            if pdu_type == 0x07:  # A-ABORT
                self.reason = "was aborted by the peer"
                return
            if pdu_type != 0x04:
                raise ProtocolError(f"unexpected PDU type {pdu_type} during the data phase")
            pos, end = 0, len(body)
            while pos < end:
                if pos + 6 > end:
                    raise ProtocolError("truncated PDV item")
                length, pcid, header = struct.unpack_from(">LBB", body, pos)
                if length < 2 or pos + 4 + length > end:
                    raise ProtocolError(f"PDV item of length {length} overruns its PDU")
                payload = body[pos + 6:pos + 4 + length]
                pos += 4 + length
                if pcid not in self.assoc.contexts:
                    raise ProtocolError(f"PDV on presentation context {pcid}, which was "
                                        "not accepted")
                if header & 0x01:  # command
                    if cmd is not None:
                        raise ProtocolError("a new command before the last one's dataset")
                    command += payload
                    if header & 0x02:
                        cmd = parse_command(bytes(command))
                        command.clear()
                        cx_id = pcid
                        if cmd.get(0x0800, NO_DATASET) == NO_DATASET:
                            self._dispatch(cx_id, cmd, None)
                            cmd = None
                else:
                    if cmd is None:
                        raise ProtocolError("a dataset without its command")
                    dataset += payload
                    if header & 0x02:
                        self._dispatch(cx_id, cmd, dataset)
                        cmd, dataset = None, bytearray()

    def _send_message(self, cx_id: int, command: bytes, dataset: bytes | None = None) -> None:
        """Send a message as P-DATA-TF PDUs within the peer's maximum length."""
        limit = self.assoc.max_send or (1 << 30)
        step = max(limit - 6, 2)
        out = bytearray()
        for data, ctrl in ((command, 0x01), (dataset, 0x00)):
            if data is None:
                continue
            for i in range(0, max(len(data), 1), step):
                chunk = data[i:i + step]
                last = 0x02 if i + step >= len(data) else 0x00
                item = struct.pack(">LBB", len(chunk) + 2, cx_id, ctrl | last) + chunk
                out += struct.pack(">BBL", 0x04, 0, len(item)) + item
        self.sock.sendall(out)

    def _dispatch(self, cx_id: int, cmd: dict[int, Any], dataset: bytearray | None) -> None:
        field_ = cmd.get(0x0100)
        msg_id = cmd.get(0x0110, 0)
        sop_class, ts = self.assoc.contexts[cx_id]
        if field_ == C_STORE_RQ:
            sop_uid = str(cmd.get(0x1000, ""))
            try:
                status = self.acc.service.store(self.assoc, ts,
                                                str(cmd.get(0x0002) or sop_class), sop_uid,
                                                dataset if dataset is not None else bytearray())
            except Exception:  # noqa: BLE001 - a failing handler answers, not aborts
                log.exception("storing %s failed", sop_uid)
                status = 0xA700
            self.assoc.instances += 1
            self._send_message(cx_id, build_command(
                (0x0002, str(cmd.get(0x0002) or sop_class), "UI"), (0x0100, C_STORE_RSP, "US"),
                (0x0120, msg_id, "US"), (0x0800, NO_DATASET, "US"), (0x0900, status, "US"),
                (0x1000, sop_uid, "UI")))
        elif field_ == C_ECHO_RQ:
            self._send_message(cx_id, build_command(
                (0x0002, VERIFICATION, "UI"), (0x0100, C_ECHO_RSP, "US"),
                (0x0120, msg_id, "US"), (0x0800, NO_DATASET, "US"), (0x0900, 0, "US")))
        elif field_ == C_FIND_RQ:
            self._find(cx_id, cmd, dataset)
        elif field_ == C_CANCEL_RQ:
            pass  # nothing is running: one operation at a time
        else:
            rsp = (field_ or 0) | 0x8000
            self._send_message(cx_id, build_command(
                (0x0002, sop_class, "UI"), (0x0100, rsp, "US"), (0x0120, msg_id, "US"),
                (0x0800, NO_DATASET, "US"), (0x0900, 0x0211, "US")))  # unrecognised op

    def _find(self, cx_id: int, cmd: dict[int, Any], dataset: bytearray | None) -> None:
        from pynetdicom.dsutils import decode, encode

        sop_class, ts = self.assoc.contexts[cx_id]
        uid = UID(ts)
        msg_id = cmd.get(0x0110, 0)

        def respond(status: int, ident: Any) -> None:
            data = encode(ident, uid.is_implicit_VR, uid.is_little_endian) \
                if ident is not None else None
            self._send_message(cx_id, build_command(
                (0x0002, sop_class, "UI"), (0x0100, C_FIND_RSP, "US"),
                (0x0120, msg_id, "US"),
                (0x0800, NO_DATASET if data is None else 0x0000, "US"),
                (0x0900, status, "US")), data)

        try:
            query = decode(BytesIO(bytes(dataset or b"")), uid.is_implicit_VR,
                           uid.is_little_endian)
        except Exception as exc:  # noqa: BLE001
            log.warning("unreadable C-FIND identifier from %s: %s", self.assoc.calling, exc)
            respond(0xC310, None)  # unable to process
            return
        final = 0x0000
        try:
            for status, ident in self.acc.service.find(self.assoc, sop_class, query):
                if status in (0xFF00, 0xFF01):
                    if self._cancelled():
                        final = 0xFE00
                        break
                    respond(status, ident)
                else:
                    final = status
                    break
        except Exception:  # noqa: BLE001
            log.exception("answering a C-FIND failed")
            final = 0xC311
        respond(final, None)

    def _cancelled(self) -> bool:
        """Has the peer sent a C-CANCEL (or anything) meanwhile? (non-blocking peek)"""
        self.sock.setblocking(False)
        try:
            return bool(self.sock.recv(1, socket.MSG_PEEK))
        except (BlockingIOError, InterruptedError):
            return False
        finally:
            self.sock.settimeout(self.acc.network_timeout)


# --- the server -------------------------------------------------------------------------------


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        acc = self.server.acceptor
        sock = nodelay(self.request)
        session = _Session(acc, sock, self.client_address)
        with acc._lock:
            acc._sessions.add(session)
        try:
            session.run()
        finally:
            with acc._lock:
                acc._sessions.discard(session)


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False
    acceptor: Acceptor


class Acceptor:
    """Listen on ``(host, port)`` and run every association through ``service``.

    Parameters
    ----------
    service
        The :class:`Service`.
    contexts
        The supported presentation contexts (pynetdicom ``PresentationContext`` objects).
    max_associations
        Associations beyond this many at once are rejected (local limit exceeded).
    network_timeout
        Seconds of silence after which an association is aborted.
    """

    def __init__(self, service: Service, host: str, port: int, contexts: list[Any], *,
                 max_associations: int = 32, network_timeout: float = 60.0) -> None:
        self.service = service
        self.contexts = contexts
        self.max_associations = max_associations
        self.network_timeout = network_timeout
        self._lock = threading.Lock()
        self._sessions: set[_Session] = set()
        self._server = _Server((host, port), _Handler)
        self._server.acceptor = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def at_limit(self) -> bool:
        return len(self._sessions) > self.max_associations

    def start(self) -> Acceptor:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.2}, daemon=True,
                                        name=f"nora-node-{self.port}")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; open associations are cut (their service sees ``closed``)."""
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            sessions = list(self._sessions)
        for s in sessions:
            s.reason = "was cut by the node's stop"
            try:
                s.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5)
        deadline = 50
        while self._sessions and deadline:  # let their service calls finish
            threading.Event().wait(0.1)
            deadline -= 1


def storage_contexts(answer_find: bool = True) -> list[Any]:
    """Every standard storage SOP class in every transfer syntax pynetdicom knows, plus
    Verification and (``answer_find``) Patient/Study Root C-FIND."""
    from pynetdicom import ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts
    from pynetdicom.presentation import build_context
    from pynetdicom.sop_class import (  # type: ignore[attr-defined]  # names made at import
        PatientRootQueryRetrieveInformationModelFind,
        StudyRootQueryRetrieveInformationModelFind,
    )

    out = [build_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)  # type: ignore[arg-type]
           for cx in AllStoragePresentationContexts]
    out.append(build_context(VERIFICATION, ALL_TRANSFER_SYNTAXES))
    if answer_find:
        out += [build_context(PatientRootQueryRetrieveInformationModelFind,
                              ALL_TRANSFER_SYNTAXES),
                build_context(StudyRootQueryRetrieveInformationModelFind,
                              ALL_TRANSFER_SYNTAXES)]
    return out

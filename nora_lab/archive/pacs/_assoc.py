"""Open an association to a configured node, with errors that say what to check."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from nora_lab.archive.pacs._net import FastAE
from nora_lab.archive.pacs.nodes import PacsConfig, PacsNode, get_node, pacs_config
from nora_lab.errors import PacsError

__all__ = ["association", "resolve", "node_slots", "status_text"]

_SLOTS: dict[tuple[str, str, int], threading.BoundedSemaphore] = {}
_SLOTS_LOCK = threading.Lock()

_REJECT = {
    (1, 1): "no reason given", (1, 2): "application context name not supported",
    (1, 3): "our calling AE title is not known to the peer", (1, 7): "the called AE title "
    "is wrong", (2, 2): "protocol version not supported", (3, 1): "temporary congestion",
    (3, 2): "local limit exceeded",
}


def resolve(node: PacsNode | str, config: PacsConfig | None) -> tuple[PacsNode, PacsConfig]:
    cfg = config or pacs_config()
    return get_node(node, cfg), cfg


def node_slots(node: PacsNode) -> threading.BoundedSemaphore:
    """The process-wide limit of associations open to ``node`` at once."""
    key = (node.aet, node.host, node.port)
    with _SLOTS_LOCK:
        if key not in _SLOTS:
            _SLOTS[key] = threading.BoundedSemaphore(node.max_associations)
        return _SLOTS[key]


def status_text(status: Any) -> str:
    """``0xC000 (error comment)`` for a response status Dataset."""
    if status is None or "Status" not in status:
        return "no response (connection lost, aborted or timed out)"
    text = f"0x{int(status.Status):04X}"
    comment = status.get("ErrorComment")
    return f"{text} ({comment})" if comment else text


@contextmanager
def association(node: PacsNode, config: PacsConfig, contexts: Sequence[Any], *,
                ext_neg: Sequence[Any] | None = None, handlers: Sequence[Any] | None = None,
                limit: bool = True) -> Iterator[Any]:
    """An established association to ``node`` (released, or aborted on error, at exit).

    ``contexts``: abstract syntaxes, or ``(abstract syntax, transfer syntaxes)`` pairs.

    Raises
    ------
    PacsError
        If the node cannot be reached or rejects the association; the message names the
        node, its address and the likely fix.
    """
    ae = FastAE(ae_title=config.calling_aet(node))
    ae.maximum_pdu_size = 0
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = node.timeout
    ae.connection_timeout = min(node.timeout, 10.0)
    for cx in contexts:
        if isinstance(cx, tuple):
            ae.add_requested_context(cx[0], cx[1])
        else:
            ae.add_requested_context(cx)
    slot = node_slots(node) if limit else None
    if slot is not None:
        slot.acquire()
    try:
        assoc = ae.associate(node.host, node.port, ae_title=node.aet,
                             ext_neg=list(ext_neg or []) or None,
                             evt_handlers=list(handlers or []) or None)
        if not assoc.is_established:
            where = f"{node.name!r} ({node.aet}@{node.host}:{node.port})"
            if assoc.is_rejected:
                rsd = (assoc.acceptor.primitive.result, assoc.acceptor.primitive.diagnostic) \
                    if assoc.acceptor.primitive is not None else (0, 0)
                why = _REJECT.get(rsd, f"result {rsd[0]}, diagnostic {rsd[1]}")  # type: ignore[arg-type]
                raise PacsError(f"PACS node {where} rejected the association: {why} "
                                f"(we called as {config.calling_aet(node)!r}; is it "
                                "registered there with our host?)")
            raise PacsError(f"cannot reach PACS node {where}: no association (is it "
                            "running, and the host, port and AE title right?)")
        try:
            yield assoc
        except BaseException:
            if assoc.is_established:
                assoc.abort()
            raise
        else:
            if assoc.is_established:
                assoc.release()
    finally:
        if slot is not None:
            slot.release()

"""Sockets without Nagle's delay, for both directions of every DICOM association.

On Linux, Nagle's algorithm plus delayed ACKs stall each small DIMSE exchange (a C-STORE
response, a C-FIND match) by 40–90 ms. pynetdicom leaves it on; everything here turns it
off (``TCP_NODELAY``):

- :class:`FastAE`, an :class:`~pynetdicom.ae.ApplicationEntity` whose requested
  associations (SCU) use :class:`_NoDelaySocket`;
- :func:`nodelay` for the sockets our node accepts (:mod:`._acceptor`);
- :func:`peer_env`, the environment for dcmtk tools and Orthanc (``TCP_NODELAY=1``,
  which both read).
"""

from __future__ import annotations

import os
import socket
from typing import Any

from pynetdicom import AE
from pynetdicom.transport import AssociationSocket

__all__ = ["FastAE", "nodelay", "peer_env"]


def nodelay(sock: socket.socket) -> socket.socket:
    """Set ``TCP_NODELAY`` on ``sock`` (a no-op for non-TCP sockets); return it."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:  # pragma: no cover - e.g. a UNIX socket
        pass
    return sock


class _NoDelaySocket(AssociationSocket):
    def _create_socket(self, address: Any) -> socket.socket:
        return nodelay(super()._create_socket(address))


class FastAE(AE):
    """pynetdicom's AE for our requests: ``TCP_NODELAY``, and no lost responses.

    pynetdicom 3.0's requestor runs a reactor that takes any complete message off the
    DIMSE queue every millisecond, paused by ``send_*`` through a flag it can read just
    before the reactor's own check: when a peer answers fast (as with ``TCP_NODELAY``)
    the reactor sometimes takes the first C-FIND response and drops it — a query then
    misses a match (seen against Orthanc, about 2 queries in 100 on a reused
    association). Our requestors never serve requests from that loop (C-GET's C-STORE
    sub-operations are handled inside ``send_c_get``), so their non-blocking
    ``get_msg`` is made to return nothing.
    """

    def _create_socket(self, assoc: Any, address: Any, tls_args: Any) -> AssociationSocket:
        sock = _NoDelaySocket(assoc, address=address)
        sock.tls_args = tls_args
        dimse = assoc.dimse
        blocking_get = dimse.get_msg

        def get_msg(block: bool = False) -> Any:
            return blocking_get(block=True) if block else (None, None)

        dimse.get_msg = get_msg
        return sock


def peer_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment for dcmtk tools and Orthanc with ``TCP_NODELAY=1``."""
    env = dict(os.environ if base is None else base)
    env["TCP_NODELAY"] = "1"
    return env

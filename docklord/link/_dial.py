"""The dialing side of the link handshake, shared by the node agent and simulated nodes.

The node sends ``Hello`` first; the coordinator answers ``Welcome`` (with the keepalive interval,
the seq it knows, and a node id and secret when it enrolled the node) or ``Reject`` (with a
reason). Nothing else may come first.
"""

from __future__ import annotations

import asyncio

from docklord.errors import HandshakeRejected, LinkClosed
from docklord.link._transport import Transport
from docklord.protocol import docklord_pb2 as pb

__all__ = ["HANDSHAKE_TIMEOUT", "dial"]

#: Seconds the coordinator has to answer a ``Hello``.
HANDSHAKE_TIMEOUT = 10.0


async def dial(
    transport: Transport,
    hello: pb.Hello,
    *,
    timeout: float = HANDSHAKE_TIMEOUT,  # noqa: ASYNC109 - bounds a send and a receive
) -> pb.Welcome:
    """Send ``hello`` on a fresh ``transport`` and return the coordinator's ``Welcome``.

    Raises:
        HandshakeRejected: the coordinator refused the node (``reason`` says why).
        LinkClosed: no answer within ``timeout``, or a frame other than an answer.
    """
    await transport.send(pb.Envelope(hello=hello))
    try:
        reply = await asyncio.wait_for(transport.receive(), timeout)
    except TimeoutError as exc:
        raise LinkClosed("the coordinator did not answer the handshake") from exc
    kind = reply.WhichOneof("body")
    if kind == "reject":
        raise HandshakeRejected(
            f"coordinator rejected node {hello.node_id or '(enrolling)'}: {reply.reject.message}",
            reason=reply.reject.reason,
        )
    if kind != "welcome":
        raise LinkClosed(f"unexpected {kind} frame during the handshake")
    return reply.welcome

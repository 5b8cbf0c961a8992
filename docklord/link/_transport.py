"""The one interface between the link logic and the wire (DESIGN §2, STYLE item 3)."""

from __future__ import annotations

from typing import Protocol

from docklord.protocol import Envelope

__all__ = ["Transport"]


class Transport(Protocol):
    """Carries whole ``Envelope`` frames, in order, to and from one peer.

    Implementations: :func:`docklord.link.memory_pair`, :func:`docklord.link.connect_websocket`,
    :class:`docklord.link.StarletteWebSocketTransport`, :func:`docklord.link.connect_grpc` and
    the transports :class:`docklord.link.GrpcLinkServer` hands to its handler. Only these
    modules import a transport library.

    One task may call :meth:`send` while another calls :meth:`receive`; neither may be called
    from two tasks at once. A sent envelope must not be mutated afterwards.
    """

    @property
    def peer(self) -> str:
        """The peer's address, for logs (never contains a secret)."""
        ...

    async def send(self, env: Envelope) -> None:
        """Sends one frame, waiting while the transport's buffers are full.

        Raises:
            LinkClosed: the link is closed (by either end) or broke.
        """
        ...

    async def receive(self) -> Envelope:
        """Waits for the next frame.

        Raises:
            LinkClosed: the peer is gone, or :meth:`close` was called.
            InvalidInput: the peer sent something that is not an ``Envelope``.
        """
        ...

    async def close(self) -> None:
        """Closes the link; idempotent. Frames already sent are still delivered if possible."""
        ...

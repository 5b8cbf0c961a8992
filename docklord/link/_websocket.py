"""The node link over WebSocket: binary messages, one ``Envelope`` each.

The node dials with the ``websockets`` client (:func:`connect_websocket`); the coordinator
accepts on its HTTP port through Starlette (``docklord.link._starlette``, which a node never
imports).
"""

from __future__ import annotations

import ssl as ssl_module
from urllib.parse import urlsplit

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from docklord.errors import InvalidInput, LinkClosed
from docklord.link._transport import Transport
from docklord.protocol import MAX_FRAME_BYTES, Envelope, decode, encode

__all__ = ["connect_websocket"]

log = structlog.get_logger(__name__)

#: How long a close waits for the peer's closing handshake before dropping the connection.
CLOSE_TIMEOUT = 2.0


async def connect_websocket(
    url: str, *, ssl: ssl_module.SSLContext | None = None, open_timeout: float = 10
) -> Transport:
    """Dials a coordinator's link endpoint (``ws://`` or ``wss://``, e.g. ``.../api/v1/link``).

    The library's own pings are off (the link session has its keepalive) and so is
    per-message compression (it costs more CPU per small frame than it saves on loopback and
    LAN links). HTTP(S) proxies from the environment are honoured.

    Args:
        url: the endpoint; credentials belong in the handshake frames, not in the URL.
        ssl: the TLS context for ``wss://`` URLs; the default verifies the server.
        open_timeout: seconds for the TCP, TLS and WebSocket handshakes together.

    Raises:
        InvalidInput: the URL is malformed.
        LinkClosed: the coordinator cannot be reached or refused the upgrade.
    """
    peer = _peer_of(url)
    try:
        conn = await connect(
            url,
            ssl=ssl,
            open_timeout=open_timeout,
            close_timeout=CLOSE_TIMEOUT,
            ping_interval=None,
            compression=None,
            max_size=MAX_FRAME_BYTES,
        )
    except InvalidURI as exc:
        raise InvalidInput(f"invalid link URL {peer!r}: {exc}") from exc
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise LinkClosed(f"{peer} refused the link: HTTP {status}") from exc
    except (InvalidHandshake, OSError) as exc:  # OSError covers refused, DNS, TLS, timeout
        raise LinkClosed(f"cannot connect to {peer}: {exc or type(exc).__name__}") from exc
    except ValueError as exc:  # after OSError: certificate errors are ValueErrors too
        raise InvalidInput(f"invalid link URL {peer!r}: {exc}") from exc
    return _WebSocketClientTransport(conn, peer)


def _peer_of(url: str) -> str:
    """``scheme://host:port/path`` without user info or query, which may hold secrets."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    return f"{parts.scheme}://{host}{port}{parts.path}"


class _WebSocketClientTransport:
    def __init__(self, conn: ClientConnection, peer: str) -> None:
        self._conn = conn
        self._peer = peer

    @property
    def peer(self) -> str:
        return self._peer

    async def send(self, env: Envelope) -> None:
        try:
            await self._conn.send(encode(env))
        except ConnectionClosed as exc:
            raise LinkClosed(_closed_message(self._peer, exc)) from exc

    async def receive(self) -> Envelope:
        try:
            data = await self._conn.recv()
        except ConnectionClosed as exc:
            raise LinkClosed(_closed_message(self._peer, exc)) from exc
        if isinstance(data, str):
            raise InvalidInput(f"{self._peer} sent a text message on the link")
        return decode(data)

    async def close(self) -> None:
        await self._conn.close()


def _closed_message(peer: str, exc: ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return f"link to {peer} was lost (no close frame)"
    reason = f": {frame.reason}" if frame.reason else ""
    return f"link to {peer} closed (code {frame.code}{reason})"

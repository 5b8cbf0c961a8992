"""The HTTP server's guards against slow and abusive clients (uvicorn, h11).

uvicorn's own ``timeout_keep_alive`` only covers the idle time *between* requests, and any byte
re-arms it, so a client that trickles a request's headers (slowloris) holds its connection
forever; an ASGI middleware cannot help, because the application sees a request only once its
headers are complete. So the guard sits in the HTTP protocol itself (a subclass of uvicorn's
``H11Protocol``):

- **header deadline**: a request's line and headers (a WebSocket handshake's too) must be
  complete within ``header_timeout`` of the connection, or of the end of the previous response;
- **body deadline**: its body within ``body_timeout`` of the headers;
- **slow connections per address**: once a client address has more than
  ``max_client_connections`` connections still sending their request for longer than
  :data:`SLOW_GRACE` seconds, its oldest such connections are closed. Connections that send
  their request promptly are never counted, so many nodes behind one address (or a reconnect
  storm from it) are not refused, while slow sockets from one address cannot pile up;
- uvicorn's ``limit_concurrency`` (``503`` past ``max_connections`` open connections) and
  h11's limit on the size of the request line and headers (``max_header_size``).

WebSockets use a subclass of uvicorn's sans-I/O WebSocket protocol with two changes: invalid
UTF-8 in a text frame is reported with a one-line warning instead of a traceback rendered on
the event loop (the socket is closed with ``1007`` as before), and a shutdown closes client
sockets with ``1001`` (going away) instead of uvicorn's ``1012`` (service restart): a stopped
coordinator is not known to come back.

Shutdown (:class:`GracefulServer`, on SIGTERM): stop listening, close idle connections and
client WebSockets (``1001``), let in-flight requests finish for up to :data:`SHUTDOWN_GRACE`
seconds (requests that wait on a node need its link, so node links stay up meanwhile), then
close the node links cleanly and cancel what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, ClassVar

import h11
import structlog
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from docklord.config import CoordinatorConfig

__all__ = ["SHUTDOWN_GRACE", "SLOW_GRACE", "GracefulServer", "uvicorn_limits"]

log = structlog.get_logger(__name__)

#: Seconds a request may take to arrive before its connection counts as slow for its address.
SLOW_GRACE = 2.0
#: Seconds a shutdown waits for in-flight HTTP requests before cancelling them.
SHUTDOWN_GRACE = 10.0
#: The WebSocket path of node links, which a shutdown closes last.
LINK_PATH = "/api/v1/link"

_TIMEOUT_BODY = b'{"error": {"code": "timeout", "message": "the request took too long to arrive"}}'
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    + f"content-length: {len(_TIMEOUT_BODY)}\r\n\r\n".encode()
    + _TIMEOUT_BODY
)


def uvicorn_limits(config: CoordinatorConfig) -> dict[str, Any]:
    """The ``uvicorn.Config`` options that apply ``config``'s timeouts and limits."""
    slow = _SlowClients(config.max_client_connections)

    class Protocol(GuardedH11Protocol):
        clients = slow
        header_timeout = config.header_timeout
        body_timeout = config.body_timeout

    return {
        "http": Protocol,
        "ws": QuietWebSocketProtocol,
        "timeout_keep_alive": config.keepalive_timeout,
        "limit_concurrency": config.max_connections or None,
        "h11_max_incomplete_event_size": config.max_header_size,
        "timeout_graceful_shutdown": SHUTDOWN_GRACE,
    }


class GracefulServer(uvicorn.Server):
    """uvicorn's server with the coordinator's shutdown order (see above).

    Signals are left to the caller (``docklord coordinator`` sets ``should_exit`` on SIGTERM):
    uvicorn's own handlers would raise the signal again once stopped, and the process would
    end by SIGTERM before closing its store instead of exiting 0.

    Args:
        config: the uvicorn configuration.
        close_links: closes every node link (after the requests are done).
    """

    def __init__(
        self, config: uvicorn.Config, *, close_links: Callable[[], Awaitable[None]]
    ) -> None:
        super().__init__(config)
        self._close_links = close_links

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        started = self.loop_time()
        for conn in self._client_connections():
            conn.shutdown()
        grace = self.config.timeout_graceful_shutdown or SHUTDOWN_GRACE
        # uvicorn has no event for "a connection closed": it polls the same way.
        while self._client_connections() and self.loop_time() - started < grace:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        left = self._client_connections()
        await self._close_links()
        # The link routes end a moment after their links closed; stuck requests get the rest
        # of the grace period (at least a second for those routes), then are cancelled.
        tasks = set(self.server_state.tasks)
        if tasks:
            remaining = max(grace - (self.loop_time() - started), 1.0)
            _, tasks = await asyncio.wait(tasks, timeout=remaining)
        for task in tasks:
            task.cancel(msg="coordinator shutdown: the grace period is over")
        log.info(
            "http server stopped",
            seconds=round(self.loop_time() - started, 3),
            connections_cut_off=len(left),
        )

    @staticmethod
    def loop_time() -> float:
        return asyncio.get_running_loop().time()

    def _client_connections(self) -> list[Any]:
        return [c for c in self.server_state.connections if not _is_node_link(c)]


def _is_node_link(conn: Any) -> bool:
    scope = getattr(conn, "scope", None)
    return (
        isinstance(conn, WebSocketsSansIOProtocol)
        and isinstance(scope, dict)
        and scope.get("path") == LINK_PATH
    )


class _SlowClients:
    """The slow connections of each client address: still sending their request after
    :data:`SLOW_GRACE` seconds."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._slow: dict[str, dict[GuardedH11Protocol, None]] = {}

    def slow(self, conn: GuardedH11Protocol) -> None:
        """``conn`` turned slow: count it, and close the address's oldest past the cap."""
        conns = self._slow.setdefault(conn.host, {})
        conns[conn] = None
        while self.cap and len(conns) > self.cap:
            oldest = next(iter(conns))  # insertion order: the one slow for longest
            del conns[oldest]
            oldest.expire("too many slow connections from this address")

    def done(self, conn: GuardedH11Protocol) -> None:
        """``conn``'s request arrived, or it closed."""
        conns = self._slow.get(conn.host)
        if conns is not None and conns.pop(conn, 0) is None and not conns:
            del self._slow[conn.host]


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines for a request's headers and body (see above)."""

    clients: ClassVar[_SlowClients]
    header_timeout: ClassVar[float]
    body_timeout: ClassVar[float]

    _timer: asyncio.TimerHandle | None = None
    _phase: str = ""
    _deadline: float = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._track()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._track()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._track()

    def connection_lost(self, exc: Exception | None) -> None:
        self._arm("", None)
        super().connection_lost(exc)

    @property
    def host(self) -> str:
        """The client's address."""
        return self.client[0] if self.client else ""

    def expire(self, why: str) -> None:
        """Close the connection of a client whose request is too slow (``408`` if no response
        has begun)."""
        self._arm("", None)
        if self.transport.is_closing():
            return
        # Debug only: under a slowloris attack this is said hundreds of times a second.
        log.debug("slow client disconnected", client=self.host, reason=why)
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()

    def _track(self) -> None:
        """Arm the deadline that fits the state of the request now being received."""
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            self._arm("", None)  # closing, or upgraded to a WebSocket: nothing more to read
        elif self.conn.their_state is h11.IDLE:
            self._arm("headers", self.header_timeout)
        elif self.conn.their_state is h11.SEND_BODY:
            self._arm("body", self.body_timeout)
        else:
            self._arm("", None)

    def _arm(self, phase: str, timeout: float | None) -> None:
        if phase == self._phase:
            return  # the deadline runs from the start of the phase, whatever arrives meanwhile
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._phase:
            self.clients.done(self)
        self._phase = phase
        if timeout is not None:
            self._deadline = self.loop.time() + timeout
            self._timer = self.loop.call_later(min(SLOW_GRACE, timeout), self._check)

    def _check(self) -> None:
        left = self._deadline - self.loop.time()
        if left <= 0:
            self.expire(f"no complete {self._phase} in time")
            return
        self._timer = self.loop.call_later(left, self._check)
        self.clients.slow(self)


class QuietWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol; invalid UTF-8 closes with ``1007`` without a traceback,
    a shutdown closes with ``1001``."""

    def shutdown(self) -> None:
        if self.close_sent or not self.handshake_complete:
            super().shutdown()
            return
        # uvicorn's own shutdown, with 1001 (going away) in place of 1012 (service restart).
        self.stop_keepalive()
        self.queue.put_nowait({"type": "websocket.disconnect", "code": 1001})
        self.conn.send_close(1001, "coordinator shutting down")
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.transport.close()

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text" and not self.close_sent:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError:
                self.frames = []
                host = self.client[0] if self.client else ""
                log.warning("websocket text frame is not UTF-8; closing with 1007", client=host)
                self.conn.send_close(1007, "invalid UTF-8")
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()

"""The node link over a gRPC bidirectional stream (``docklord.link.v1.Link/Connect``).

No service stubs are generated: the one method is registered with a generic handler and
carries ``Envelope`` both ways.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

import grpc
import grpc.aio
import structlog

from docklord.errors import ConfigError, InvalidInput, LinkClosed
from docklord.link._memory import MemoryPipe
from docklord.link._tasks import cancel_and_wait, log_failure
from docklord.link._transport import Transport
from docklord.protocol import MAX_FRAME_BYTES, Envelope, decode

__all__ = ["GrpcLinkServer", "connect_grpc", "tls_server_credentials"]

log = structlog.get_logger(__name__)

SERVICE = "docklord.link.v1.Link"
METHOD = "Connect"
PATH = f"/{SERVICE}/{METHOD}"

#: Seconds a closing client waits for the server to end the stream before cancelling it.
CLOSE_TIMEOUT = 2.0
#: Frames buffered each way between a session and the gRPC call.
_PUMP_FRAMES = 64
_OPTIONS = [
    ("grpc.max_send_message_length", MAX_FRAME_BYTES),
    ("grpc.max_receive_message_length", MAX_FRAME_BYTES),
]
_RPC_ENDED = (grpc.RpcError, grpc.aio.BaseError, asyncio.InvalidStateError)

TransportHandler = Callable[[Transport], Awaitable[None]]


class _Undecodable:
    """What the deserializer hands over for bytes that are not an ``Envelope``.

    gRPC's own handling of a deserializer that raises is a logged traceback and a dead call;
    this way the session learns of it as ``InvalidInput``, like over WebSocket, and the
    coordinator answers with a ``Reject``.
    """

    def __init__(self, error: InvalidInput) -> None:
        self.error = error


def _deserialize(data: bytes) -> Envelope | _Undecodable:
    try:
        return decode(data)
    except InvalidInput as exc:
        return _Undecodable(exc)


async def connect_grpc(
    target: str,
    *,
    root_certificates: bytes | None = None,
    tls: bool = False,
    open_timeout: float = 10,
) -> Transport:
    """Dials a coordinator's gRPC link port (``host:port``, default port 50051).

    Args:
        target: the coordinator's address.
        root_certificates: PEM roots to verify the server with; implies ``tls``.
        tls: use TLS with the system's roots.
        open_timeout: seconds to wait for the connection to become ready.

    Raises:
        LinkClosed: the coordinator cannot be reached in time.
    """
    if tls or root_certificates is not None:
        credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
        channel = grpc.aio.secure_channel(target, credentials, options=_OPTIONS)
    else:
        channel = grpc.aio.insecure_channel(target, options=_OPTIONS)
    call = channel.stream_stream(
        PATH,
        request_serializer=Envelope.SerializeToString,
        response_deserializer=_deserialize,
    )(wait_for_ready=False)
    # Without wait_for_ready the call fails as soon as the channel does (refused, or a TLS
    # handshake that fails verification) and says why, instead of waiting out the timeout.
    try:
        await asyncio.wait_for(call.wait_for_connection(), open_timeout)
    except (TimeoutError, grpc.aio.AioRpcError) as exc:
        call.cancel()
        await channel.close()
        reason = f"not ready within {open_timeout}s" if isinstance(exc, TimeoutError) else None
        raise LinkClosed(f"cannot connect to {target}: {reason or _rpc_error_text(exc)}") from exc
    transport = _GrpcClientTransport(channel, call, target)
    transport.start_pumps()
    return transport


def tls_server_credentials(cert_chain: bytes, private_key: bytes) -> Any:
    """Server credentials for :class:`GrpcLinkServer` from a PEM certificate chain and key."""
    return grpc.ssl_server_credentials([(private_key, cert_chain)])


def _rpc_error_text(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return str(exc) or type(exc).__name__


class _GrpcTransport:
    """What both ends share: two pump tasks copy between the gRPC stream and bounded pipes.

    The pumps exist because cancelling a task blocked in a gRPC ``read()`` or ``write()``
    cancels or wedges the whole call, and the session cancels its reader and writer when it
    closes. With the pumps, only pipe operations are ever cancelled: frames already handed
    to :meth:`send` are still written, and after :meth:`close` the read pump keeps reading
    (and dropping) until the other end finishes the stream.
    """

    def __init__(self, stream: Any, peer: str) -> None:
        self._stream = stream
        self._peer = peer
        self._inbox = MemoryPipe(_PUMP_FRAMES, sender=peer, receiver="this end")
        self._outbox = MemoryPipe(_PUMP_FRAMES, sender="this end", receiver=peer)
        self._closed = False
        self._bad: InvalidInput | None = None
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None

    @property
    def peer(self) -> str:
        return self._peer

    def start_pumps(self) -> None:
        self._reader = asyncio.create_task(self._read_all(), name=f"grpc-read {self._peer}")
        self._writer = asyncio.create_task(self._write_all(), name=f"grpc-write {self._peer}")
        self._reader.add_done_callback(log_failure)
        self._writer.add_done_callback(log_failure)

    def _pumps(self) -> set[asyncio.Task[None]]:
        return {task for task in (self._reader, self._writer) if task is not None}

    async def send(self, env: Envelope) -> None:
        if self._closed:
            raise LinkClosed(f"link to {self._peer} is closed")
        await self._outbox.put(env)

    async def receive(self) -> Envelope:
        if self._closed:
            raise LinkClosed(f"link to {self._peer} is closed")
        try:
            return await self._inbox.get()
        except LinkClosed:
            if self._bad is not None:
                raise self._bad from None
            raise

    async def _read_all(self) -> None:
        reason = f"{self._peer} closed the link"
        try:
            while (msg := await self._stream.read()) is not grpc.aio.EOF:
                if isinstance(msg, _Undecodable):
                    self._bad, reason = msg.error, msg.error.message
                    break
                if not self._inbox.closed:
                    await self._inbox.put(msg)
        except LinkClosed:
            pass  # closed while a frame waited for room; it is dropped with the link
        except (*_RPC_ENDED, asyncio.CancelledError) as exc:
            reason = self._ended(exc)
        finally:
            self._inbox.close(reason)

    async def _write_all(self) -> None:
        try:
            while True:
                await self._stream.write(await self._outbox.get())
        except LinkClosed:
            pass  # closed and every queued frame written
        except (*_RPC_ENDED, asyncio.CancelledError) as exc:
            self._outbox.close(self._ended(exc))

    def _ended(self, exc: BaseException) -> str:
        """Why the call ended; re-raises a cancellation of the pump task itself."""
        if isinstance(exc, asyncio.CancelledError):
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise exc
            return f"link to {self._peer} was cancelled"
        return f"link to {self._peer} ended: {_rpc_error_text(exc)}"

    def _stop(self, reason: str) -> None:
        self._closed = True
        self._inbox.close(reason)
        self._outbox.close(reason)  # the write pump still writes what was queued before


class _GrpcClientTransport(_GrpcTransport):
    def __init__(self, channel: Any, call: Any, peer: str) -> None:
        super().__init__(call, peer)
        self._channel = channel

    async def close(self) -> None:
        if self._closed:
            return
        self._stop(f"link to {self._peer} is closed")
        try:
            # Write what is queued, half-close so that the server reads all of it, then wait
            # for the server to end the stream (the read pump drops what it still sends).
            if self._writer is not None:
                await asyncio.wait({self._writer}, timeout=CLOSE_TIMEOUT)
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self._stream.done_writing()
            if self._reader is not None:
                await asyncio.wait({self._reader}, timeout=CLOSE_TIMEOUT)
        except (*_RPC_ENDED, TimeoutError) as exc:
            log.debug("link.grpc_half_close_failed", peer=self._peer, error=_rpc_error_text(exc))
        finally:
            self._stream.cancel()
            await cancel_and_wait(self._pumps())
            await self._channel.close()


class _GrpcServerTransport(_GrpcTransport):
    """The coordinator's end of one ``Connect`` stream; the stream ends when it is closed."""

    def __init__(self, context: Any) -> None:
        super().__init__(context, str(context.peer()))
        self.closed = asyncio.Event()

    async def close(self) -> None:
        self.end(f"link to {self._peer} is closed")

    def end(self, reason: str) -> None:
        """Marks the stream over; pending receives get ``LinkClosed`` after buffered frames."""
        self._stop(reason)
        self.closed.set()

    async def finish(self) -> None:
        """Lets the write pump flush (briefly), then stops both pumps."""
        if self._writer is not None:
            await asyncio.wait({self._writer}, timeout=CLOSE_TIMEOUT)
        await cancel_and_wait(self._pumps())


class GrpcLinkServer:
    """Accepts node links on a gRPC port; each ``Connect`` stream is handed to ``handler``.

    The stream ends when the handler returns or closes its transport. Use as an async
    context manager (or :meth:`start` and :meth:`aclose`)::

        async with GrpcLinkServer(serve_node, "0.0.0.0", 50051) as server:
            ...

    Args:
        handler: awaited with the new transport; its failures are logged.
        host: the address to bind.
        port: the port to bind; 0 picks a free one (see :attr:`port`).
        server_credentials: from :func:`tls_server_credentials` for TLS; plain text if None.
    """

    def __init__(
        self,
        handler: TransportHandler,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        server_credentials: Any = None,
    ) -> None:
        self._handler = handler
        self._address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._credentials = server_credentials
        self._server: Any = None
        self._port = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._transports: set[_GrpcServerTransport] = set()

    @property
    def port(self) -> int:
        """The bound port (known once started)."""
        if self._server is None:
            raise RuntimeError("the gRPC link server is not started")
        return self._port

    async def start(self) -> None:
        """Binds and starts serving.

        Raises:
            ConfigError: the address cannot be bound.
        """
        if self._server is not None:
            raise RuntimeError("the gRPC link server is already started")
        server = grpc.aio.server(options=_OPTIONS)
        method = grpc.stream_stream_rpc_method_handler(
            self._connect,
            request_deserializer=_deserialize,
            response_serializer=Envelope.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, {METHOD: method}),)
        )
        try:
            if self._credentials is None:
                self._port = server.add_insecure_port(self._address)
            else:
                self._port = server.add_secure_port(self._address, self._credentials)
        except RuntimeError as exc:
            raise ConfigError(f"cannot listen for gRPC links on {self._address}: {exc}") from exc
        await server.start()
        self._server = server

    async def aclose(self, grace: float = 1.0) -> None:
        """Stops accepting, ends every open stream, waits for the handlers.

        Idempotent. The handlers' transports end at once (their sessions see ``LinkClosed``);
        handlers still running ``grace`` seconds later are cancelled.
        """
        server, self._server = self._server, None
        if server is None:
            return
        stopping = asyncio.create_task(server.stop(grace))
        for transport in list(self._transports):
            transport.end("the coordinator stopped serving links")
        await stopping
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _connect(self, request_iterator: Any, context: Any) -> None:
        transport = _GrpcServerTransport(context)
        self._transports.add(transport)
        handler = asyncio.create_task(self._serve(transport), name=f"grpc-link {transport.peer}")
        self._tasks.add(handler)
        handler.add_done_callback(self._handler_done)
        transport.start_pumps()
        closed = asyncio.create_task(transport.closed.wait())
        try:
            await asyncio.wait({handler, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            transport.end(f"{transport.peer} is gone")
            self._transports.discard(transport)
            await cancel_and_wait([closed])
            await transport.finish()

    async def _serve(self, transport: Transport) -> None:
        await self._handler(transport)

    def _handler_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("link.grpc_handler_failed", task=task.get_name(), exc_info=exc)

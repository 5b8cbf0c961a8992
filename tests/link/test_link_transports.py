"""The same session over every transport: in memory, real WebSocket, real gRPC (loopback)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvicorn
from link_helpers import free_port, read_exactly
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from docklord.errors import ConfigError, InvalidInput, LinkClosed, NotFound
from docklord.link import (
    Channel,
    GrpcLinkServer,
    LinkSession,
    StarletteWebSocketTransport,
    Transport,
    connect_grpc,
    connect_websocket,
    memory_pair,
)
from docklord.protocol import Envelope
from docklord.testing import eventually

Connect = Callable[[], Awaitable[Transport]]

#: Server sessions currently running, over every transport.
SERVING: set[LinkSession] = set()


async def echo_channel(channel: Channel) -> None:
    async for stream, data in channel:
        await channel.send(data, stream)


async def serve_echo(transport: Transport) -> None:
    """The coordinator's side in these tests: echoes requests and channels."""
    closing: set[asyncio.Task[None]] = set()

    async def on_request(method: str, args: Any) -> Any:
        if method == "echo":
            return args
        if method == "call_back":  # a request from the accepting end to the dialer
            return await session.request("echo", args)
        if method == "close_link":
            task = asyncio.create_task(session.aclose())
            closing.add(task)
            return "bye"
        raise NotFound(f"no method {method}")

    session = LinkSession(transport, name="server", on_request=on_request, on_channel=echo_channel)
    SERVING.add(session)
    try:
        async with session:
            await session.run()
    except LinkClosed:
        pass  # the client went away: the normal end of a link in these tests
    finally:
        SERVING.discard(session)
        await asyncio.gather(*closing)


async def websocket_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    await serve_echo(StarletteWebSocketTransport(websocket))


async def text_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("not a frame")
    await websocket.receive()


@pytest.fixture(scope="module")
async def websocket_base() -> AsyncIterator[str]:
    """A real uvicorn server on 127.0.0.1 with the link route; yields ``ws://host:port``."""
    app = Starlette(
        routes=[
            WebSocketRoute("/api/v1/link", websocket_endpoint),
            WebSocketRoute("/text", text_endpoint),
        ]
    )
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started

    await eventually(started, what="uvicorn to start")
    yield f"ws://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture(scope="module")
async def grpc_target() -> AsyncIterator[str]:
    """A real gRPC link server on 127.0.0.1; yields ``host:port``."""
    async with GrpcLinkServer(serve_echo, "127.0.0.1", 0) as server:
        yield f"127.0.0.1:{server.port}"


@pytest.fixture(params=["memory", "websocket", "grpc"])
async def connect(
    request: pytest.FixtureRequest, websocket_base: str, grpc_target: str
) -> AsyncIterator[Connect]:
    """Dials the echo server over one transport."""
    servers: list[asyncio.Task[None]] = []

    async def memory() -> Transport:
        dialer, acceptor = memory_pair()
        servers.append(asyncio.create_task(serve_echo(acceptor)))
        return dialer

    async def websocket() -> Transport:
        return await connect_websocket(f"{websocket_base}/api/v1/link")

    async def grpc() -> Transport:
        return await connect_grpc(grpc_target)

    yield {"memory": memory, "websocket": websocket, "grpc": grpc}[request.param]
    await asyncio.gather(*servers)


async def no_server_sessions() -> bool:
    return not SERVING


async def test_requests_and_channels(connect: Connect) -> None:
    transport = await connect()

    async def on_request(method: str, args: Any) -> Any:
        return {"dialer": args}

    async with LinkSession(transport, dialer=True, on_request=on_request) as session:
        run = asyncio.create_task(session.run())
        assert await session.request("echo", {"n": 1}) == {"n": 1}
        with pytest.raises(NotFound, match="no method missing"):
            await session.request("missing")
        assert await session.request("call_back", [1]) == {"dialer": [1]}
        channel = await session.open_channel("echo", window=64 * 1024)
        payload = os.urandom(1024 * 1024)
        sender = asyncio.create_task(channel.send(payload, 1))
        assert await read_exactly(channel, len(payload)) == payload
        await sender
        await channel.close()
    assert await run is None
    await eventually(no_server_sessions, what="the server session to end")


async def test_the_server_closing_ends_the_client_run(connect: Connect) -> None:
    transport = await connect()
    async with LinkSession(transport, dialer=True) as session:
        run = asyncio.create_task(session.run())
        assert await session.request("close_link") == "bye"
        with pytest.raises(LinkClosed):
            await run
    await eventually(no_server_sessions, what="the server session to end")


async def test_grpc_refused_connection_fails_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(LinkClosed, match=r"cannot connect to 127.0.0.1:\d+: UNAVAILABLE"):
        await connect_grpc(f"127.0.0.1:{free_port()}", open_timeout=30)
    assert time.monotonic() - started < 5


async def test_websocket_refused_connection() -> None:
    with pytest.raises(LinkClosed, match=r"cannot connect to ws://127.0.0.1:\d+/api/v1/link"):
        await connect_websocket(f"ws://127.0.0.1:{free_port()}/api/v1/link", open_timeout=2)


async def test_websocket_refused_upgrade(websocket_base: str) -> None:
    with pytest.raises(LinkClosed, match="refused the link: HTTP 403"):
        await connect_websocket(f"{websocket_base}/nowhere?token=secret")


async def test_websocket_bad_url_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="invalid link URL"):
        await connect_websocket("http//nowhere")


async def test_websocket_text_messages_are_rejected(websocket_base: str) -> None:
    transport = await connect_websocket(f"{websocket_base}/text")
    try:
        with pytest.raises(InvalidInput, match="text message"):
            await transport.receive()
    finally:
        await transport.close()
    await transport.close()  # idempotent


async def test_websocket_server_transport_needs_an_accepted_socket() -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        pass

    websocket = WebSocket({"type": "websocket", "path": "/", "headers": []}, receive, send)
    with pytest.raises(ValueError, match="accepted"):
        StarletteWebSocketTransport(websocket)


async def test_grpc_server_that_never_answers_times_out() -> None:
    # It accepts TCP connections and never speaks HTTP/2.
    accepted: list[asyncio.StreamWriter] = []
    server = await asyncio.start_server(lambda _r, w: accepted.append(w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(LinkClosed, match=rf"cannot connect to 127.0.0.1:{port}: not ready"):
            await connect_grpc(f"127.0.0.1:{port}", open_timeout=0.3)
    finally:
        server.close()
        for writer in accepted:
            writer.close()
        await server.wait_closed()


async def test_grpc_transport_close_is_idempotent(grpc_target: str) -> None:
    transport = await connect_grpc(grpc_target)
    await transport.close()
    await transport.close()
    with pytest.raises(LinkClosed):
        await transport.receive()
    with pytest.raises(LinkClosed):
        await transport.send(Envelope())
    await eventually(no_server_sessions, what="the server session to end")


async def abort_websocket(transport: Transport) -> None:
    transport._conn.transport.abort()  # type: ignore[attr-defined]  # no close handshake


async def abort_grpc(transport: Transport) -> None:
    await transport._channel.close()  # type: ignore[attr-defined]  # no half-close first


@pytest.mark.parametrize("transport_kind", ["websocket", "grpc"])
async def test_a_vanished_client_ends_the_server_session(
    transport_kind: str, websocket_base: str, grpc_target: str
) -> None:
    if transport_kind == "websocket":
        transport = await connect_websocket(f"{websocket_base}/api/v1/link")
        abort = abort_websocket
    else:
        transport = await connect_grpc(grpc_target)
        abort = abort_grpc
    async with LinkSession(transport, dialer=True) as session:
        run = asyncio.create_task(session.run())
        assert await session.request("echo", "hi") == "hi"
        assert SERVING
        await abort(transport)
        with pytest.raises(LinkClosed):
            await run
    await eventually(no_server_sessions, what="the server to notice", timeout=5)


async def test_stopping_the_grpc_server_ends_client_links() -> None:
    server = GrpcLinkServer(serve_echo)
    await server.start()
    transport = await connect_grpc(f"127.0.0.1:{server.port}")
    async with LinkSession(transport, dialer=True) as session:
        run = asyncio.create_task(session.run())
        assert await session.request("echo", 1) == 1
        await server.aclose()
        await server.aclose()  # idempotent
        with pytest.raises(LinkClosed):
            await run
    assert not SERVING
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.port


async def test_grpc_server_that_cannot_bind_is_a_config_error() -> None:
    server = GrpcLinkServer(serve_echo, "256.0.0.1", 0)
    with pytest.raises(ConfigError, match="cannot listen for gRPC links on 256.0.0.1:0"):
        await server.start()

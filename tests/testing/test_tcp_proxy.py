"""`docklord.testing.TcpProxy` between a client and an echo server: each mode does what it says."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from docklord.testing import TcpProxy


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    server.close()


async def _round_trip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(b"ping")
    await writer.drain()
    return await reader.readexactly(4)


async def test_forward_delay_blackhole_heal_drop(echo_port: int) -> None:
    with TcpProxy("127.0.0.1", echo_port) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        assert await _round_trip(reader, writer) == b"ping"

        proxy.delay(0.2)
        started = time.monotonic()
        assert await _round_trip(reader, writer) == b"ping"
        assert time.monotonic() - started >= 0.4  # 0.2 s each way

        proxy.blackhole()
        writer.write(b"held")
        await writer.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.readexactly(4), 0.3)
        proxy.heal()
        # Nothing read during the blackhole was thrown away.
        assert await asyncio.wait_for(reader.readexactly(4), 5) == b"held"

        proxy.drop()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the proxy
        writer.close()
        dropped_r, dropped_w = await asyncio.open_connection("127.0.0.1", proxy.port)
        assert await asyncio.wait_for(dropped_r.read(), 5) == b""  # new ones too
        dropped_w.close()

        proxy.heal()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        assert await _round_trip(reader, writer) == b"ping"
        writer.close()
        assert proxy.accepted == 3

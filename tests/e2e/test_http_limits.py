"""The HTTP server against slow and abusive clients, with real sockets and a real coordinator:
request deadlines, slow connections per address, WebSocket frames that are not messages."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest
import websockets

from docklord.testing import CoordinatorProcess, eventually

from .conftest import started_coordinator

pytestmark = pytest.mark.e2e

HEADER_TIMEOUT = 4.0
BODY_TIMEOUT = 1.0
SLOW_CAP = 20


@pytest.fixture(scope="module")
def coord(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoordinatorProcess]:
    # Settings from the environment (a flag would stop the unfixed coordinator from starting).
    env = {
        "DOCKLORD_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "DOCKLORD_BODY_TIMEOUT": str(BODY_TIMEOUT),
        "DOCKLORD_MAX_CLIENT_CONNECTIONS": str(SLOW_CAP),
    }
    workdir = tmp_path_factory.mktemp("http-limits")
    with started_coordinator(workdir, registration="enroll", grpc=False, env=env) as proc:
        yield proc


class SlowSocket:
    """A client that opens a request and never finishes it (or trickles it)."""

    def __init__(self) -> None:
        self.opened = 0.0
        self.closed_after: float | None = None
        self.answer = b""

    async def run(self, port: int, *, trickle: bool = False) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        self.opened = time.monotonic()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        try:
            while True:
                if trickle:  # a byte every 100 ms: each one would re-arm a keep-alive timer
                    writer.write(b"X")
                    await writer.drain()
                try:
                    data = await asyncio.wait_for(reader.read(4096), 0.1 if trickle else 30)
                except TimeoutError:
                    continue
                if not data:
                    break
                self.answer += data
        except ConnectionError:
            pass
        finally:
            self.closed_after = time.monotonic() - self.opened
            writer.close()


async def test_slow_clients_are_cut_off_and_others_are_served(coord: CoordinatorProcess) -> None:
    slow = [SlowSocket() for _ in range(300)]
    tasks = [asyncio.create_task(s.run(coord.port)) for s in slow]
    trickler = SlowSocket()
    tasks.append(asyncio.create_task(trickler.run(coord.port, trickle=True)))
    try:

        async def all_open() -> bool:
            return all(s.opened for s in slow)

        await eventually(all_open, timeout=10)
        # While 300 slow sockets are open, a normal client is served at once (same address).
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=coord.url, timeout=5) as client:
            assert (await client.get("/healthz")).status_code == 200
        served = time.monotonic() - started
        assert all(s.closed_after is None for s in slow), "slow sockets closed too early"
        assert served < 1.0, served

        async def slow_ones_cut() -> bool:
            return sum(s.closed_after is not None for s in slow) >= len(slow) - SLOW_CAP

        # Past the grace of 2 s, all but SLOW_CAP of them are closed, before the deadline...
        await eventually(slow_ones_cut, timeout=HEADER_TIMEOUT - 1)
        early = sum(s.closed_after is not None for s in slow)
        # ...and the rest at the deadline.
        await asyncio.wait_for(asyncio.gather(*tasks), HEADER_TIMEOUT + 3)
    finally:
        for task in tasks:
            task.cancel()
    closed = sorted(s.closed_after or 0.0 for s in [*slow, trickler])
    print(f"slow sockets closed after {closed[0]:.2f} s to {closed[-1]:.2f} s ({early} early);")
    print(f"a normal request served in {served * 1000:.0f} ms while 300 were open")
    assert len(slow) - SLOW_CAP <= early < len(slow)
    assert closed[-1] <= HEADER_TIMEOUT + 1.0
    assert trickler.closed_after is not None and trickler.closed_after <= HEADER_TIMEOUT + 1.0
    assert trickler.answer.startswith(b"HTTP/1.1 408 ")
    assert b'"code": "timeout"' in trickler.answer


async def test_a_body_that_never_arrives_is_cut_off(coord: CoordinatorProcess) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", coord.port)
    writer.write(
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    )
    started = time.monotonic()
    answer = await asyncio.wait_for(reader.read(), BODY_TIMEOUT + 3)
    writer.close()
    assert time.monotonic() - started <= BODY_TIMEOUT + 1.0
    assert answer.startswith(b"HTTP/1.1 408 ")


async def test_bad_websocket_frames_get_answers_or_1007_and_no_traceback(
    coord: CoordinatorProcess,
) -> None:
    url = f"ws://127.0.0.1:{coord.port}/api/ws?token={coord.login()}"
    async with websockets.connect(url) as ws:
        await ws.send("[" * 100_000 + "]" * 100_000)
        answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert answer["type"] == "error" and "nested" in answer["message"]
        await ws.send(json.dumps({"type": "heartbeat"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "heartbeat_ack"}
        await ws.send(b'{"type": "heartbeat\xff"}', text=True)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007

    async def logged() -> bool:
        return "not UTF-8" in coord.log()

    await eventually(logged, timeout=5)
    assert "Traceback" not in coord.log()
    assert "unhandled" not in coord.log().lower()

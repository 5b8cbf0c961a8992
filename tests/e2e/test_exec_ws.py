"""Interactive exec over the coordinator's WebSocket, on a real engine."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from docklord.testing import eventually

from .conftest import api, store_of
from .test_logs_stats import StreamFleet, running_fleet

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def stream_fleet(
    tmp_path_factory: pytest.TempPathFactory, docker_host: str
) -> AsyncIterator[StreamFleet]:
    """One coordinator and one node for the whole module."""
    async with running_fleet(tmp_path_factory, docker_host) as fleet:
        yield fleet


class Terminal:
    """The client side of an exec WebSocket: keeps output, control messages and the close."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.output = b""
        self.controls: list[dict[str, Any]] = []
        self.close_code: int | None = None

    async def type(self, text: str) -> None:
        await self.ws.send(text.encode())

    async def read_until(self, needle: str, wait: float = 10.0) -> str:
        """Read until ``needle`` shows in the output (or a control message arrives)."""

        async def scan() -> str:
            while needle.encode() not in self.output:
                await self._read_one()
            return self.output.decode(errors="replace")

        return await asyncio.wait_for(scan(), wait)

    async def read_to_end(self, wait: float = 10.0) -> None:
        async def drain() -> None:
            while self.close_code is None:
                await self._read_one()

        await asyncio.wait_for(drain(), wait)

    async def _read_one(self) -> None:
        try:
            frame = await self.ws.recv()
        except ConnectionClosed as closed:
            self.close_code = closed.rcvd.code if closed.rcvd else None
            raise AssertionError(f"the socket closed ({self.close_code})") from closed
        if isinstance(frame, bytes):
            self.output += frame
        else:
            self.controls.append(json.loads(frame))


def exec_path(fleet: StreamFleet, ref: str, **query: Any) -> tuple[str, str]:
    cmd = query.pop("cmd", ["sh"])
    params = [("cmd", c) for c in cmd] + [(k, str(v).lower()) for k, v in query.items()]
    return fleet.container_path(ref, "/exec/ws"), urlencode(params)


async def close_code(ws: Any) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    return closed.value.rcvd.code if closed.value.rcvd else None


async def test_type_a_command_resize_and_get_the_exit_code(
    stream_fleet: StreamFleet, labelled_container: Callable[..., str]
) -> None:
    name = labelled_container("sleep", "120")
    async with stream_fleet.connect(*exec_path(stream_fleet, name, rows=24, cols=80)) as ws:
        term = Terminal(ws)
        await term.type("echo hello-$((40+2))\n")
        await term.read_until("hello-42")
        await ws.send(json.dumps({"type": "resize", "rows": 41, "cols": 123}))
        await term.type("stty size\n")
        await term.read_until("41 123")
        await term.type("exit 7\n")
        with pytest.raises(AssertionError, match="closed"):
            await term.read_to_end()
    assert term.controls == [{"type": "exit", "exit_code": 7}]
    assert term.close_code == 1000

    async with store_of(stream_fleet.coordinator) as store:
        entries = await store.list_audit(action="container.exec_session")
    mine = [e for e in entries if e.target and e.target.startswith(await _id(stream_fleet, name))]
    assert mine and mine[0].params is not None and mine[0].params["cmd"] == ["sh"]
    assert mine[0].result == "ok" and mine[0].actor == "user:admin"


async def _id(fleet: StreamFleet, name: str) -> str:
    async def known() -> str:
        async with api(fleet.coordinator, fleet.token) as client:
            response = await client.get("/api/v1/containers", params={"q": name})
            rows = response.json()["containers"]
        return str(rows[0]["id"]) if rows else ""

    return await eventually(known, what=f"{name} in the fleet")


async def test_closing_a_session_leaves_the_container_and_other_sessions_running(
    stream_fleet: StreamFleet, labelled_container: Callable[..., str], docker: Callable[..., str]
) -> None:
    name = labelled_container("sleep", "120")
    await eventually(lambda: _exec_streams(stream_fleet, 0), what="no exec session at start")
    async with stream_fleet.connect(*exec_path(stream_fleet, name)) as keeper:
        kept = Terminal(keeper)
        await kept.type("echo first-$((1+1))\n")
        await kept.read_until("first-2")
        async with stream_fleet.connect(*exec_path(stream_fleet, name)) as leaver:
            gone = Terminal(leaver)
            await gone.type("echo second-$((2+2))\n")
            await gone.read_until("second-4")
            await eventually(lambda: _exec_streams(stream_fleet, 2), what="two sessions")
        # The second client went away without a word: only its session ends.
        await eventually(lambda: _exec_streams(stream_fleet, 1), what="one session left")
        await kept.type("echo still-$((3+3))\n")
        await kept.read_until("still-6")
        assert docker("inspect", "-f", "{{.State.Running}}", name) == "true"
    await eventually(lambda: _exec_streams(stream_fleet, 0), what="no session left")
    assert docker("inspect", "-f", "{{.State.Running}}", name) == "true"


async def _exec_streams(fleet: StreamFleet, count: int) -> bool:
    return (await fleet.active_streams())["exec"] == count


async def test_without_a_tty_stdin_eof_and_stderr(
    stream_fleet: StreamFleet, labelled_container: Callable[..., str]
) -> None:
    name = labelled_container("sleep", "120")
    script = "cat; echo done-on-stderr >&2; exit 3"
    path = exec_path(stream_fleet, name, cmd=["sh", "-c", script], tty=False)
    async with stream_fleet.connect(*path) as ws:
        term = Terminal(ws)
        await ws.send(b"line one\nline two\n")
        await term.read_until("line two\n")
        await ws.send(json.dumps({"type": "eof"}))  # cat ends on end of input
        with pytest.raises(AssertionError, match="closed"):
            await term.read_to_end()
    assert term.output == b"line one\nline two\ndone-on-stderr\n"
    assert term.controls == [{"type": "exit", "exit_code": 3}]
    assert term.close_code == 1000


async def test_bad_requests_and_messages(
    stream_fleet: StreamFleet, labelled_container: Callable[..., str], docker: Callable[..., str]
) -> None:
    running = labelled_container("sleep", "120")
    stopped = labelled_container("true")
    await eventually(lambda: _state(docker, stopped, "exited"), what="the container exited")
    cases = [
        (exec_path(stream_fleet, "no-such-container"), 4404),
        (exec_path(stream_fleet, stopped), 4409),
        (exec_path(stream_fleet, running, rows=0), 4400),
    ]
    for (path, query), code in cases:
        async with stream_fleet.connect(path, query) as ws:
            assert await close_code(ws) == code, (path, query)
    url = stream_fleet.ws_url(*exec_path(stream_fleet, running))
    async with websockets.connect(url) as ws:
        assert await close_code(ws) == 4401

    async with stream_fleet.connect(*exec_path(stream_fleet, running)) as ws:
        term = Terminal(ws)
        for bad in ("not json", '{"type": "resize", "rows": "x", "cols": 1}', '{"type": "x"}'):
            await ws.send(bad)
        await _wait_for(lambda: len(term.controls) == 3, term)
        assert [c["type"] for c in term.controls] == ["error"] * 3
        await term.type("echo alive-$((5+5))\n")  # the session is still usable
        await term.read_until("alive-10")


async def _state(docker: Callable[..., str], name: str, state: str) -> bool:
    return docker("inspect", "-f", "{{.State.Status}}", name) == state


async def _wait_for(condition: Callable[[], bool], term: Terminal) -> None:
    async def scan() -> None:
        while not condition():
            await term._read_one()

    await asyncio.wait_for(scan(), 10)

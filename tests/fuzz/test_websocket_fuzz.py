"""Hypothesis on every WebSocket route that reads client messages: arbitrary text, JSON and
bytes never raise past the handler. Each bad message is answered with an error or a close
with a proper code, and the socket still works afterwards (a probe gets its answer).

The coordinator runs in process with simulated nodes (see ``_fleet.py``); each example is one
conversation, driven on the coordinator's event loop by :class:`AsgiSocket`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi.routing import APIWebSocketRoute
from hypothesis import example, given
from hypothesis import strategies as st

from docklord.web import create_app
from docklord.web._auth import routes_of
from tests.fuzz._fleet import FuzzFleet
from tests.fuzz._wsclient import AsgiSocket, Closed
from tests.fuzz.conftest import WS_EXAMPLES, fuzz_settings

#: Conversations held, by route (reported by the session summary, see conftest).
CONVERSATIONS: Counter[str] = Counter()

#: Close codes that say what went wrong; 1011 and 4500 (internal error) are not among them.
PROPER_CLOSE = {1000, 4000, 4400, 4401, 4403, 4404, 4408, 4409, 4502, 4503, 4504}

# ---- what a client may send -----------------------------------------------------------------

# Text that a real WebSocket can carry: valid UTF-8, so no lone surrogates.
texts = st.text(st.characters(codec="utf-8"), max_size=200)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)


def typed(types: list[str], fields: list[str]) -> st.SearchStrategy[str]:
    """JSON objects with a known (or any) ``type`` and known fields of any JSON value."""
    return st.fixed_dictionaries(
        {"type": st.sampled_from(types) | json_values},
        optional={name: json_values for name in fields},
    ).map(json.dumps)


def deeply_nested(depth: int) -> str:
    """A JSON object whose ``type`` is ``depth`` nested arrays."""
    return '{"type": ' + "[" * depth + "]" * depth + "}"


def frames(text_messages: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, Any]]:
    """One client frame: a text frame of JSON or any text, or a binary frame of any bytes."""
    return st.one_of(
        text_messages.map(lambda t: ("text", t)),
        json_values.map(lambda v: ("text", json.dumps(v))),
        texts.map(lambda t: ("text", t)),
        # Built when sent: Hypothesis would print a 200 kB text in every report.
        st.sampled_from([10, 1_000, 100_000]).map(lambda n: ("nested", n)),
        st.binary(max_size=300).map(lambda b: ("bytes", b)),
    )


LITTLEWINGS = typed(["heartbeat", "connect", "command"], ["server_id", "command"])
EXEC_CONTROL = typed(["resize", "eof"], ["rows", "cols"])
TUNNEL_CONTROL = typed(["eof"], [])
ANY_JSON = typed(["subscribe", "ping"], ["since_seq"])


def conversation(text_messages: st.SearchStrategy[str]) -> st.SearchStrategy[list[Any]]:
    return st.lists(frames(text_messages), min_size=1, max_size=4)


@pytest.fixture(scope="module")
def fleet(fuzz_fleet: FuzzFleet) -> FuzzFleet:
    """The shared fleet, with working credentials again (the REST fuzzer may revoke them)."""
    fuzz_fleet.call(fuzz_fleet.reset_credentials)
    return fuzz_fleet


# ---- the routes -----------------------------------------------------------------------------

NODE = "fuzz-node-1"


def container_path(fleet: FuzzFleet, tail: str) -> str:
    return f"/api/v1/nodes/{NODE}/containers/{fleet.nodes[0].containers[0].id}/{tail}"


def auth(fleet: FuzzFleet, role: str) -> dict[str, str]:
    return {"authorization": f"Bearer {fleet.tokens[role]}"}


async def send_all(ws: AsgiSocket, messages: list[Any]) -> None:
    for kind, data in messages:
        if kind == "text":
            await ws.send_text(data)
        elif kind == "nested":
            await ws.send_text(deeply_nested(data))
        else:
            await ws.send_bytes(data)


async def converse(
    ws: AsgiSocket,
    messages: list[Any],
    probe: Callable[[AsgiSocket], Awaitable[None]] | None,
) -> None:
    """Connect, send ``messages``, run ``probe`` (the socket must still answer), finish.

    A close with a proper code at any point ends the conversation; anything the handler
    raises, an improper close code or a missing answer fails it.
    """
    route = re.sub(r"/containers/[^/]+/", "/containers/{ref}/", ws.path)
    CONVERSATIONS[route.replace(f"/nodes/{NODE}/", "/nodes/{node}/")] += 1
    try:
        await ws.connect()
        await send_all(ws, messages)
        if probe is not None:
            await probe(ws)
    except Closed as closed:
        assert closed.code in PROPER_CLOSE, f"{ws.path} closed with {closed.code}: {closed}"
    finally:
        await ws.finish()
    for message in ws.received:
        if message.get("text") is not None:
            reply = json.loads(message["text"])
            assert isinstance(reply, dict), f"{ws.path} answered {reply!r}"


def run(fleet: FuzzFleet, make: Callable[[], Awaitable[None]]) -> None:
    fleet.call(make, timeout=60)


async def until(ws: AsgiSocket, wanted: Callable[[Any], bool]) -> None:
    """Read until a frame satisfies ``wanted``."""
    while not wanted(await ws.next_json()):
        pass


# ---- the properties -------------------------------------------------------------------------


@fuzz_settings(WS_EXAMPLES)
@given(messages=conversation(LITTLEWINGS))
@example(messages=[("nested", 100_000)])
def test_littlewings_socket_answers_every_message(fleet: FuzzFleet, messages: list[Any]) -> None:
    async def probe(ws: AsgiSocket) -> None:
        await ws.send_text(json.dumps({"type": "heartbeat"}))
        await until(ws, lambda r: isinstance(r, dict) and r.get("type") == "heartbeat_ack")

    async def main() -> None:
        ws = AsgiSocket(fleet.app, "/api/ws", headers=auth(fleet, "operator"))
        await converse(ws, messages, probe)

    run(fleet, main)


@fuzz_settings(WS_EXAMPLES)
@given(messages=conversation(EXEC_CONTROL))
@example(messages=[("nested", 100_000)])
def test_exec_socket_answers_every_message(fleet: FuzzFleet, messages: list[Any]) -> None:
    async def probe(ws: AsgiSocket) -> None:
        await ws.send_bytes(b"probe")
        await until(ws, lambda r: r == b"probe" or (isinstance(r, dict) and r["type"] == "exit"))

    async def main() -> None:
        path = container_path(fleet, "exec/ws")
        query: dict[str, str | list[str]] = {"cmd": "sh"}
        ws = AsgiSocket(fleet.app, path, query, auth(fleet, "operator"))
        await converse(ws, messages, probe)

    run(fleet, main)


@fuzz_settings(WS_EXAMPLES)
@given(messages=conversation(TUNNEL_CONTROL))
def test_docker_tunnel_socket_survives_every_message(fleet: FuzzFleet, messages: list[Any]) -> None:
    async def probe(ws: AsgiSocket) -> None:
        await ws.send_bytes(b"probe")
        await until(ws, lambda r: isinstance(r, bytes) and r.endswith(b"probe"))

    async def main() -> None:
        path = f"/api/v1/nodes/{NODE}/docker/ws"
        ws = AsgiSocket(fleet.app, path, headers=auth(fleet, "admin"))
        await converse(ws, messages, probe)

    run(fleet, main)


@fuzz_settings(WS_EXAMPLES)
@given(messages=conversation(ANY_JSON))
def test_events_socket_ignores_every_message(fleet: FuzzFleet, messages: list[Any]) -> None:
    async def probe(ws: AsgiSocket) -> None:
        fleet.nodes[0].emit()
        await until(ws, lambda r: isinstance(r, dict) and r.get("kind") == "event")

    async def main() -> None:
        ws = AsgiSocket(fleet.app, "/api/v1/events/ws", headers=auth(fleet, "viewer"))
        await converse(ws, messages, probe)

    run(fleet, main)


@fuzz_settings(WS_EXAMPLES)
@given(messages=conversation(ANY_JSON))
def test_observe_containers_socket_ignores_every_message(
    fleet: FuzzFleet, messages: list[Any]
) -> None:
    node = fleet.nodes[0]

    async def probe(ws: AsgiSocket) -> None:
        await ws.next_json()  # the listing on connect
        node.emit()
        await until(ws, lambda r: isinstance(r, dict) and r.get("node_id") == node.node_id)

    async def main() -> None:
        query: dict[str, str | list[str]] = {"node_id": node.node_id, "password": node.password}
        ws = AsgiSocket(fleet.app, "/observe-containers", query)
        await converse(ws, messages, probe)

    run(fleet, main)


@fuzz_settings(WS_EXAMPLES)
@given(messages=conversation(ANY_JSON))
def test_logs_and_stats_sockets_ignore_every_message(fleet: FuzzFleet, messages: list[Any]) -> None:
    async def main() -> None:
        for tail in ("logs/ws", "stats/ws"):
            path = container_path(fleet, tail)
            ws = AsgiSocket(fleet.app, path, headers=auth(fleet, "viewer"))
            await converse(ws, messages, None)

    run(fleet, main)


@fuzz_settings(WS_EXAMPLES)
@given(messages=conversation(ANY_JSON))
def test_merged_logs_socket_ignores_every_message(fleet: FuzzFleet, messages: list[Any]) -> None:
    async def main() -> None:
        containers = [f"{NODE}/{c.id}" for c in fleet.nodes[0].containers[:2]]
        query: dict[str, str | list[str]] = {"container": containers, "tail": "5"}
        ws = AsgiSocket(fleet.app, "/api/v1/logs/ws", query, headers=auth(fleet, "viewer"))
        await converse(ws, messages, None)

    run(fleet, main)


@fuzz_settings(WS_EXAMPLES)
@given(messages=conversation(ANY_JSON))
@example(messages=[("bytes", b"\xff" * 64)])
@example(messages=[("text", "hello")])
def test_node_link_rejects_every_bad_handshake(fleet: FuzzFleet, messages: list[Any]) -> None:
    async def probe(ws: AsgiSocket) -> None:
        # A bad first frame is answered with a Reject and a close, never ignored.
        while True:
            await ws.next_message()

    async def main() -> None:
        ws = AsgiSocket(fleet.app, "/api/v1/link")
        await converse(ws, messages[:1], probe)

    run(fleet, main)


def test_every_websocket_route_is_fuzzed() -> None:
    """A new WebSocket route needs its own property above."""
    app = create_app(object())  # type: ignore[arg-type]
    routes = {r.path for r in routes_of(app) if isinstance(r.original_route, APIWebSocketRoute)}
    assert routes == {
        "/api/ws",
        "/api/v1/nodes/{node}/containers/{ref}/exec/ws",
        "/api/v1/nodes/{node}/docker/ws",
        "/api/v1/events/ws",
        "/observe-containers",
        "/api/v1/nodes/{node}/containers/{ref}/logs/ws",
        "/api/v1/nodes/{node}/containers/{ref}/stats/ws",
        "/api/v1/logs/ws",
        "/api/v1/link",
    }

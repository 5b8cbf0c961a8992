"""The link handshake refuses bad input with a typed Reject, cheaply, and throttles strangers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docklord import __version__
from docklord.coordinator import SourceBudget
from docklord.errors import HandshakeRejected
from docklord.link import Transport
from docklord.protocol import PROTOCOL_VERSION, Envelope, Hello, encode
from docklord.store import hash_password
from docklord.testing import SimulatedNode, eventually

from ..store.conftest import raw_rows, set_secret_hash
from .conftest import Hub, RawTransport

SECRET = "s" * 43


def hello_frame(node_id: str = "node-1", proof: str = SECRET, **fields: object) -> bytes:
    hello = Hello(
        node_id=node_id,
        proof=proof,
        agent_version=__version__,
        protocol_version=PROTOCOL_VERSION,
        **fields,  # type: ignore[arg-type]
    )
    return encode(Envelope(hello=hello))


MALFORMED: dict[str, list[bytes | str]] = {
    "undecodable bytes": [b"\x0a\xff\xff\xff\xff\x0f" + bytes(range(58))],
    "a text frame": ['{"hello": {"node_id": "x"}}'],
    "truncated protobuf": [hello_frame()[:9]],
    "a bad node id": [hello_frame(node_id="../../etc/passwd")],
    "an oversized secret": [hello_frame(proof="p" * 5000)],
    "an oversized enrollment token": [hello_frame(node_id="", proof="", enroll_token="t" * 9999)],
}


@pytest.mark.parametrize("frames", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_first_frames_get_a_reject_and_a_close(
    open_hub: Hub, frames: list[bytes | str]
) -> None:
    transport = RawTransport(frames)
    with structlog.testing.capture_logs() as logs:
        await open_hub.links.serve(transport)
    assert transport.reject_reason() == "invalid"
    assert transport.closed
    assert not [e for e in logs if "exc_info" in e or e["log_level"] in ("error", "critical")]
    assert await open_hub.store.list_nodes() == []


async def test_failed_handshakes_throttle_their_source_only(enroll_hub: Hub) -> None:
    for _ in range(enroll_hub.links.failures.burst):
        transport = RawTransport(["text"], peer="10.1.1.1:1000")
        await enroll_hub.links.serve(transport)
        assert transport.reject_reason() == "invalid"
    throttled = RawTransport(["text"], peer="10.1.1.1:1001")
    await enroll_hub.links.serve(throttled)
    assert throttled.reject_reason() == "throttled"
    assert throttled.closed
    other = RawTransport(["text"], peer="10.2.2.2:1000")
    await enroll_hub.links.serve(other)
    assert other.reject_reason() == "invalid"


async def test_throttled_source_is_refused_before_reading(enroll_hub: Hub) -> None:
    enroll_hub.links.failures = SourceBudget(burst=1, rate=0.001)
    await enroll_hub.links.serve(RawTransport(["text"], peer="10.1.1.1:1"))
    unread = RawTransport([hello_frame()], peer="10.1.1.1:2")
    await enroll_hub.links.serve(unread)
    assert unread.reject_reason() == "throttled"
    assert len(unread._frames) == 1


async def _handshake(hub: Hub, node_id: str, peer: str) -> str:
    """Links ``node_id`` and leaves at once; returns ``welcome`` or the reject reason."""
    node = await hub.connect(peer)
    await node.send(Envelope.FromString(hello_frame(node_id=node_id)))
    reply = await node.receive()
    await node.close()
    kind = reply.WhichOneof("body")
    return "welcome" if kind == "welcome" else reply.reject.reason


async def test_open_registration_is_throttled_per_source(open_hub: Hub) -> None:
    started = time.monotonic()
    answers = [await _handshake(open_hub, f"new-{i}", "10.3.3.3:7000") for i in range(40)]
    elapsed = time.monotonic() - started
    budget = open_hub.auth.registrations
    allowed = budget.burst + elapsed * budget.rate + 1
    assert 1 <= answers.count("welcome") <= allowed
    assert set(answers) == {"welcome", "throttled"}
    assert len(await open_hub.store.list_nodes()) == answers.count("welcome")
    # Refused registrations are not failed handshakes: the address's nodes still link.
    assert not open_hub.links.failures.exhausted("10.3.3.3")
    assert await _handshake(open_hub, "new-0", "10.3.3.3:7001") == "welcome"
    # Another address still registers.
    assert await _handshake(open_hub, "elsewhere", "10.4.4.4:7000") == "welcome"


def _memory(hub: Hub, peer: str) -> Callable[[], Awaitable[Transport]]:
    async def connect() -> Transport:
        return await hub.connect(peer)

    return connect


async def test_pending_registrations_are_capped(open_hub: Hub) -> None:
    open_hub.auth.max_pending = 2
    open_hub.auth.registrations = SourceBudget(burst=1000, rate=1000)
    online = SimulatedNode("", "online-1", SECRET, containers=1, connect=_memory(open_hub, "a:1"))
    task = asyncio.create_task(online.run())
    try:
        await online.linked.wait()

        async def online_now() -> bool:
            return not open_hub.auth.is_pending("online-1")

        await eventually(online_now, what="online-1 no longer pending")
        assert await _handshake(open_hub, "drop-1", "10.5.5.5:1") == "welcome"
        assert await _handshake(open_hub, "drop-2", "10.5.5.6:1") == "welcome"
        assert await open_hub.store.count_unseen_nodes() == 2
        assert await _handshake(open_hub, "drop-3", "10.5.5.7:1") == "throttled"
        await open_hub.store.delete_node("drop-1")
        assert await _handshake(open_hub, "drop-3", "10.5.5.7:1") == "welcome"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_simulated_node_sees_a_typed_reject(enroll_hub: Hub) -> None:
    node = SimulatedNode("", "unknown-node", SECRET, connect=_memory(enroll_hub, "b:1"))
    with pytest.raises(HandshakeRejected) as caught:
        await node.run()
    assert caught.value.reason == "bad_credentials"


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frames=st.lists(st.one_of(st.binary(max_size=256), st.text(max_size=64)), max_size=3))
async def test_arbitrary_first_frames_never_raise_past_the_handshake(
    enroll_hub: Hub, frames: list[bytes | str]
) -> None:
    enroll_hub.links.failures = SourceBudget(burst=10**9, rate=1)
    transport = RawTransport(frames)
    await enroll_hub.links.serve(transport)
    assert transport.closed
    assert all(e.WhichOneof("body") == "reject" for e in transport.sent)


async def test_an_argon2_node_secret_migrates_on_the_next_successful_link(
    enroll_hub: Hub, tmp_path: Path
) -> None:
    await enroll_hub.store.register_node("old-node", SECRET)
    url = f"sqlite+aiosqlite:///{tmp_path / 'coordinator.db'}"
    await set_secret_hash(url, "old-node", hash_password(SECRET))
    node = SimulatedNode("", "old-node", SECRET, containers=1, connect=_memory(enroll_hub, "c:1"))
    task = asyncio.create_task(node.run())
    try:
        await node.linked.wait()
        [row] = await raw_rows(url, "nodes")
        assert row["secret_hash"].startswith("hmac-sha256$")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

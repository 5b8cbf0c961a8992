"""Link session life cycle: keepalive, close, run outcomes, in-order messages."""

from __future__ import annotations

import asyncio
import time

import pytest
from link_helpers import PairFactory

from docklord.errors import InvalidInput, LinkClosed
from docklord.link import LinkSession, LinkSettings, SessionState, memory_pair
from docklord.protocol import Batch, ChannelData, Envelope, Event, EventBatch, Ping, Snapshot
from docklord.testing import eventually

FAST = {"settings": LinkSettings(ping_interval=0.1, dead_after=0.3)}


async def test_a_silent_peer_is_declared_dead_within_dead_after() -> None:
    left, silent = memory_pair()  # nobody reads or writes the other end
    async with LinkSession(left, dialer=True, **FAST) as session:
        started = time.monotonic()
        with pytest.raises(LinkClosed, match=r"no frame from memory:acceptor for 0.3s"):
            await session.run()
        elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 1.0
    assert session.state is SessionState.CLOSED
    await silent.close()


async def test_a_silent_peer_fails_pending_calls() -> None:
    left, silent = memory_pair()
    async with LinkSession(left, dialer=True, **FAST) as session:
        run = asyncio.create_task(session.run())
        with pytest.raises(LinkClosed, match="no frame"):
            await session.request("hang", timeout=30)
        with pytest.raises(LinkClosed):
            await run
    await silent.close()


async def test_pings_keep_an_idle_link_alive(link_pair: PairFactory) -> None:
    pings = 0
    faster = {"settings": LinkSettings(ping_interval=0.05, dead_after=0.15)}
    pair = await link_pair(dialer=faster, acceptor=faster)
    receive = pair.acceptor_transport.receive

    async def counting_receive() -> Envelope:
        nonlocal pings
        env = await receive()
        pings += env.HasField("ping")
        return env

    pair.acceptor_transport.receive = counting_receive  # type: ignore[method-assign]

    async def many_pings() -> bool:
        return pings >= 8  # well past dead_after (0.15 s) at one ping per 0.05 s

    await eventually(many_pings, what="pings over more than dead_after")
    assert pair.dialer.state is SessionState.RUNNING
    assert pair.acceptor.state is SessionState.RUNNING


async def test_the_round_trip_of_pings_is_measured(link_pair: PairFactory) -> None:
    faster = {"settings": LinkSettings(ping_interval=0.05, dead_after=0.5)}
    pair = await link_pair(dialer=faster, acceptor=faster)

    async def measured() -> bool:
        return pair.acceptor.rtt is not None and pair.dialer.rtt is not None

    await eventually(measured, what="both ends to measure a round trip")
    assert pair.acceptor.rtt is not None and 0 <= pair.acceptor.rtt < 0.5


async def test_run_returns_after_a_local_close_and_raises_after_the_peers(
    link_pair: PairFactory,
) -> None:
    pair = await link_pair()
    await pair.dialer.aclose()
    assert await pair.dialer_run is None
    with pytest.raises(LinkClosed, match="memory:dialer closed the link"):
        await pair.acceptor_run
    assert pair.acceptor.closed


async def test_aclose_is_idempotent_and_concurrent_safe(link_pair: PairFactory) -> None:
    pair = await link_pair()
    await asyncio.gather(pair.dialer.aclose(), pair.dialer.aclose())
    await pair.dialer.aclose()
    assert pair.dialer.state is SessionState.CLOSED
    assert await pair.dialer_run is None


async def test_aclose_before_run() -> None:
    left, right = memory_pair()
    session = LinkSession(left)
    await session.aclose()
    await session.aclose()
    assert await session.run() is None  # closed by this end: nothing to report
    with pytest.raises(LinkClosed):
        await right.receive()


async def test_run_cannot_be_called_twice(link_pair: PairFactory) -> None:
    pair = await link_pair()
    with pytest.raises(RuntimeError, match="already running"):
        await pair.dialer.run()


async def test_cancelling_run_closes_the_session(link_pair: PairFactory) -> None:
    pair = await link_pair()
    pair.dialer_run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pair.dialer_run
    assert pair.dialer.state is SessionState.CLOSED
    with pytest.raises(LinkClosed, match="cancelled"):
        await pair.dialer.request("x")


async def test_messages_arrive_in_order(link_pair: PairFactory) -> None:
    received: list[int] = []

    async def on_message(env: Envelope) -> None:
        if env.HasField("events"):
            await asyncio.sleep(0)  # a handler that yields must still see the order
            received.append(env.events.events[0].seq)

    pair = await link_pair(acceptor={"on_message": on_message})
    for seq in range(1, 201):
        await pair.dialer.send(Envelope(events=EventBatch(events=[Event(seq=seq)])))

    async def all_arrived() -> bool:
        return len(received) == 200

    await eventually(all_arrived, what="200 event batches")
    assert received == list(range(1, 201))


async def test_messages_sent_before_a_close_are_delivered(link_pair: PairFactory) -> None:
    received: list[Envelope] = []

    async def on_message(env: Envelope) -> None:
        received.append(env)

    pair = await link_pair(acceptor={"on_message": on_message})
    await pair.dialer.send(Envelope(snapshot=Snapshot(seq=42)))
    await pair.dialer.aclose()
    with pytest.raises(LinkClosed):
        await pair.acceptor_run
    assert [env.snapshot.seq for env in received] == [42]


async def test_a_failing_message_handler_closes_the_link(link_pair: PairFactory) -> None:
    async def on_message(env: Envelope) -> None:
        raise ValueError("bad snapshot")

    pair = await link_pair(acceptor={"on_message": on_message})
    await pair.dialer.send(Envelope(snapshot=Snapshot()))
    with pytest.raises(ValueError, match="bad snapshot"):
        await pair.acceptor_run
    with pytest.raises(LinkClosed):
        await pair.dialer_run


async def test_send_refuses_frames_the_session_manages(link_pair: PairFactory) -> None:
    pair = await link_pair()
    with pytest.raises(ValueError, match="not ping"):
        await pair.dialer.send(Envelope(ping=Ping()))
    with pytest.raises(ValueError, match="not channel_data"):
        await pair.dialer.send(Envelope(channel_data=ChannelData()))
    with pytest.raises(ValueError, match="not None"):
        await pair.dialer.send(Envelope())


async def test_send_after_close_fails(link_pair: PairFactory) -> None:
    pair = await link_pair()
    await pair.dialer.aclose()
    with pytest.raises(LinkClosed, match="is closed"):
        await pair.dialer.send(Envelope(snapshot=Snapshot()))
    with pytest.raises(LinkClosed):
        await pair.dialer.open_channel("logs")


class GarbageTransport:
    """A transport whose peer sends bytes that are not an Envelope."""

    peer = "garbage"

    def __init__(self) -> None:
        self.closed = False

    async def send(self, env: Envelope) -> None:
        pass

    async def receive(self) -> Envelope:
        raise InvalidInput("undecodable link frame (3 bytes)")

    async def close(self) -> None:
        self.closed = True


async def test_a_protocol_error_closes_the_link() -> None:
    transport = GarbageTransport()
    async with LinkSession(transport) as session:
        with pytest.raises(LinkClosed, match="protocol error from garbage: undecodable") as caught:
            await session.run()
    assert isinstance(caught.value.__cause__, InvalidInput)
    assert transport.closed


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="ping_interval"):
        LinkSettings(ping_interval=5, dead_after=2)
    with pytest.raises(ValueError, match="positive"):
        LinkSettings(max_concurrent_requests=0)


async def test_queued_frames_travel_in_batches_and_keep_their_order() -> None:
    left, raw = memory_pair()
    async with LinkSession(left, dialer=True) as session:
        for seq in range(1, 501):  # queued before the writer runs: they leave as batches
            await session.send(Envelope(events=EventBatch(events=[Event(seq=seq)])))
        run = asyncio.create_task(session.run())
        seqs: list[int] = []
        batches = 0
        while len(seqs) < 500:
            env = await raw.receive()
            batches += env.HasField("batch")
            inner = env.batch.envelopes if env.HasField("batch") else [env]
            seqs.extend(e.events.events[0].seq for e in inner if e.HasField("events"))
        assert seqs == list(range(1, 501))
        assert 1 < batches < 500
    assert await run is None


async def test_batches_are_unpacked_in_order_and_nesting_is_refused() -> None:
    received: list[int] = []

    async def on_message(env: Envelope) -> None:
        received.append(env.snapshot.seq)

    left, raw = memory_pair()
    async with LinkSession(left, dialer=True, on_message=on_message) as session:
        run = asyncio.create_task(session.run())
        frames = [Envelope(snapshot=Snapshot(seq=seq)) for seq in (1, 2, 3)]
        await raw.send(Envelope(batch=Batch(envelopes=frames)))
        await raw.send(Envelope(batch=Batch(envelopes=[Envelope(batch=Batch())])))
        with pytest.raises(LinkClosed, match="nested batch"):
            await run
    assert received == [1, 2, 3]

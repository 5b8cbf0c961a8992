"""Channels over a link session: data, flow control, fairness, close and errors."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from link_helpers import PairFactory, next_frame, read_exactly

from docklord.errors import Conflict, InvalidInput, LinkClosed, NotFound
from docklord.link import Channel, ChannelState, LinkSession, memory_pair
from docklord.protocol import ChannelData, ChannelOpen, Envelope, Request
from docklord.testing import eventually


async def echo(channel: Channel) -> None:
    async for stream, data in channel:
        await channel.send(data, stream)


class Producer:
    """A channel handler that sends ``chunk`` until stopped, counting what it sent."""

    def __init__(self, chunk: int = 1024) -> None:
        self.chunk = b"x" * chunk
        self.sent = 0
        self.error: BaseException | None = None

    async def __call__(self, channel: Channel) -> None:
        try:
            while True:
                await channel.send(self.chunk, 1)
                self.sent += len(self.chunk)
        except LinkClosed as exc:
            self.error = exc


async def test_channel_echo_with_streams(link_pair: PairFactory) -> None:
    pair = await link_pair(acceptor={"on_channel": echo})
    channel = await pair.dialer.open_channel("echo", {"tty": False})
    await channel.send(b"hello", 1)
    await channel.send(b"world", 2)
    assert await channel.receive() == (1, b"hello")
    assert await channel.receive() == (2, b"world")
    await channel.close()
    assert channel.state is ChannelState.CLOSED
    assert await channel.receive() is None
    await channel.close()  # idempotent


async def test_handler_sees_kind_and_args(link_pair: PairFactory) -> None:
    seen: list[tuple[str, Any, int]] = []

    async def handler(channel: Channel) -> None:
        seen.append((channel.kind, channel.args, channel.id))

    pair = await link_pair(acceptor={"on_channel": handler})
    channel = await pair.dialer.open_channel("logs", {"follow": True, "tail": 10})
    assert await channel.receive() is None  # the handler returned: a clean end
    assert seen == [("logs", {"follow": True, "tail": 10}, channel.id)]
    assert channel.id % 2 == 1  # the dialer's ids are odd


async def test_large_data_is_split_into_bounded_frames(link_pair: PairFactory) -> None:
    received: list[int] = []

    async def sink(channel: Channel) -> None:
        async for _, data in channel:
            received.append(len(data))

    pair = await link_pair(acceptor={"on_channel": sink})
    channel = await pair.dialer.open_channel("sink", window=1024 * 1024)
    await channel.send(b"y" * 300_000)
    await channel.close()

    async def all_received() -> bool:
        return sum(received) == 300_000

    await eventually(all_received, what="all bytes")
    assert max(received) <= 64 * 1024


async def test_a_consumer_that_does_not_read_stops_the_producer(link_pair: PairFactory) -> None:
    producer = Producer(chunk=1000)
    pair = await link_pair(acceptor={"on_channel": producer}, dialer={"on_request": echo_rpc})
    window = 16_000
    channel = await pair.dialer.open_channel("flood", window=window)

    async def stalled_at_window() -> bool:
        return producer.sent >= window

    await eventually(stalled_at_window, what="the producer to fill the window")
    for _ in range(5):  # several round trips: everything in flight has arrived by now
        await pair.acceptor.request("echo")
    assert producer.sent == window
    await read_exactly(channel, window)

    async def resumed() -> bool:
        return producer.sent >= 2 * window

    await eventually(resumed, what="the producer to resume after the consumer read")
    await channel.close()


async def echo_rpc(method: str, args: Any) -> Any:
    return args


async def test_reading_a_full_inbox_lets_the_event_loop_run(link_pair: PairFactory) -> None:
    # A consumer whose own sends never wait (a WebSocket with room in its buffer) must not
    # hold the loop for a whole window of small frames: in a coordinator, that starved the
    # link's keepalive for over 5 s behind a 50,000-line log and the node dropped the link.
    frames = 5000

    async def lines(channel: Channel) -> None:
        for n in range(frames):
            await channel.send(b"line %05d\n" % n, 1)

    pair = await link_pair(acceptor={"on_channel": lines, "on_request": echo_rpc})
    channel = await pair.dialer.open_channel("logs", window=1024 * 1024)
    first = await channel.receive()
    for _ in range(5):  # round trips: the rest of the frames are in the inbox by now
        await pair.dialer.request("echo")
    turns = 0

    async def ticker() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    start_turns, got = turns, [first]
    while (item := await channel.receive()) is not None:
        got.append(item)
    ticking.cancel()
    assert len(got) == frames
    assert turns - start_turns >= frames // 64 - 1, f"the loop ran {turns - start_turns} times"


async def test_a_flooding_channel_does_not_delay_requests(link_pair: PairFactory) -> None:
    producers = [Producer(chunk=64 * 1024) for _ in range(3)]
    opened = iter(producers)

    async def handler(channel: Channel) -> None:
        await next(opened)(channel)

    pair = await link_pair(acceptor={"on_channel": handler, "on_request": echo_rpc})
    channels = [await pair.dialer.open_channel("flood") for _ in producers]
    readers = [asyncio.create_task(drain(channel)) for channel in channels]
    await eventually(lambda: flowing(producers), what="the floods to flow")
    took: list[float] = []
    for _ in range(51):
        started = time.monotonic()
        assert await pair.dialer.request("echo", 1) == 1
        took.append(time.monotonic() - started)
    took.sort()
    # The median says whether requests wait behind the floods; the worst only that none is
    # stuck (a busy CI machine may pause any one of them).
    assert took[25] < 0.05, f"the median request took {took[25] * 1000:.1f} ms behind the flood"
    assert took[-1] < 1.0, f"a request took {took[-1] * 1000:.1f} ms behind the flood"
    assert all(producer.sent > 1_000_000 for producer in producers)
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)


async def flowing(producers: list[Producer]) -> bool:
    return all(producer.sent > 1_000_000 for producer in producers)


async def drain(channel: Channel) -> None:
    async for _ in channel:
        pass


async def test_a_handler_error_reaches_the_opener(link_pair: PairFactory) -> None:
    async def refuse(channel: Channel) -> None:
        await channel.send(b"partial")
        raise Conflict("container is not running", details={"state": "exited"})

    pair = await link_pair(acceptor={"on_channel": refuse})
    channel = await pair.dialer.open_channel("exec")
    assert await channel.receive() == (0, b"partial")  # data before the error is delivered
    with pytest.raises(Conflict, match="not running") as caught:
        await channel.receive()
    assert caught.value.details == {"state": "exited"}
    with pytest.raises(Conflict):
        await channel.send(b"more")
    assert channel.state is ChannelState.ENDED
    assert pair.dialer.open_channels == 0


async def test_closing_with_an_error_tells_the_peer(link_pair: PairFactory) -> None:
    outcome: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    async def watch(channel: Channel) -> None:
        try:
            await channel.receive()
        except NotFound as exc:
            outcome.set_result(exc)
        else:
            outcome.set_result(None)

    pair = await link_pair(acceptor={"on_channel": watch})
    channel = await pair.dialer.open_channel("watch")
    await channel.close(NotFound("container removed"))
    error = await outcome
    assert isinstance(error, NotFound)
    assert error.message == "container removed"


async def test_closing_ends_the_peer_handler(link_pair: PairFactory) -> None:
    producer = Producer()
    pair = await link_pair(acceptor={"on_channel": producer})
    channel = await pair.dialer.open_channel("logs")
    await channel.receive()
    await channel.close()

    async def producer_stopped() -> bool:
        return producer.error is not None and pair.acceptor.open_channels == 0

    await eventually(producer_stopped, what="the producer to see the close")
    assert "closed by" in str(producer.error)


async def test_channel_context_manager_closes(link_pair: PairFactory) -> None:
    pair = await link_pair(acceptor={"on_channel": echo})
    async with await pair.dialer.open_channel("echo") as channel:
        await channel.send(b"ping")
        assert await channel.receive() == (0, b"ping")
    assert channel.state is ChannelState.CLOSED
    with pytest.raises(LinkClosed, match="is closed"):
        await channel.send(b"late")


async def test_a_lost_link_delivers_buffered_data_then_fails(link_pair: PairFactory) -> None:
    async def send_two(channel: Channel) -> None:
        await channel.send(b"one")
        await channel.send(b"two")
        await asyncio.Event().wait()

    pair = await link_pair(acceptor={"on_channel": send_two})
    channel = await pair.dialer.open_channel("x")

    async def both_buffered() -> bool:
        return len(channel._inbox) == 2

    await eventually(both_buffered, what="two buffered frames")
    await pair.acceptor_transport.close()
    assert await channel.receive() == (0, b"one")
    assert await channel.receive() == (0, b"two")
    with pytest.raises(LinkClosed):
        await channel.receive()
    assert channel.state is ChannelState.LOST


async def test_a_lost_link_wakes_a_blocked_sender(link_pair: PairFactory) -> None:
    async def never_read(channel: Channel) -> None:
        await asyncio.Event().wait()

    pair = await link_pair(acceptor={"on_channel": never_read})
    channel = await pair.dialer.open_channel("stdin", window=4096)
    sender = asyncio.create_task(channel.send(b"z" * 10_000))

    async def blocked() -> bool:
        return channel._credit == 0

    await eventually(blocked, what="the sender to use up its credit")
    assert not sender.done()
    await pair.acceptor_transport.close()
    with pytest.raises(LinkClosed):
        await sender


async def test_handlers_are_cancelled_when_the_session_closes(link_pair: PairFactory) -> None:
    producer = Producer()
    cancelled = asyncio.Event()

    async def handler(channel: Channel) -> None:
        try:
            await producer(channel)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    pair = await link_pair(acceptor={"on_channel": handler})
    await pair.dialer.open_channel("flood", window=4096)

    async def blocked() -> bool:
        return producer.sent == 4096

    await eventually(blocked, what="the producer to block")
    await pair.acceptor.aclose()
    assert cancelled.is_set()
    assert pair.acceptor.open_channels == 0


async def test_without_a_handler_channels_are_refused(link_pair: PairFactory) -> None:
    pair = await link_pair()
    channel = await pair.dialer.open_channel("logs")
    with pytest.raises(NotFound, match="serves no channels"):
        await channel.receive()


async def test_both_ends_open_channels(link_pair: PairFactory) -> None:
    pair = await link_pair(dialer={"on_channel": echo}, acceptor={"on_channel": echo})
    mine = await pair.dialer.open_channel("echo")
    theirs = await pair.acceptor.open_channel("echo")
    assert {mine.id % 2, theirs.id % 2} == {0, 1}
    await mine.send(b"a")
    await theirs.send(b"b")
    assert await mine.receive() == (0, b"a")
    assert await theirs.receive() == (0, b"b")


async def test_same_side_setting_on_both_ends_is_detected() -> None:
    left, right = memory_pair()
    async with LinkSession(left) as a, LinkSession(right, on_channel=echo) as b:
        runs = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
        channel = await a.open_channel("echo")
        with pytest.raises(InvalidInput, match="same `dialer` setting"):
            await channel.receive()
    await asyncio.gather(*runs, return_exceptions=True)


async def test_frames_for_unknown_channels_are_dropped() -> None:
    left, raw = memory_pair()
    async with LinkSession(left, dialer=True, on_request=echo_rpc) as session:
        run = asyncio.create_task(session.run())
        await raw.send(Envelope(channel_data=ChannelData(channel_id=98, data=b"stray")))
        await raw.send(Envelope(request_id=1, request=Request(method="echo", args=b"7")))
        env = await next_frame(raw, "response")
        assert env.response.result == b"7"
    assert await run is None


async def test_a_peer_exceeding_its_credit_is_cut_off() -> None:
    left, raw = memory_pair()
    opened: asyncio.Queue[Channel] = asyncio.Queue()

    async def keep(channel: Channel) -> None:
        opened.put_nowait(channel)
        await asyncio.Event().wait()

    async with LinkSession(left, dialer=True, on_channel=keep) as session:
        run = asyncio.create_task(session.run())
        await raw.send(Envelope(channel_open=ChannelOpen(channel_id=2, initial_credit=10)))
        channel = await opened.get()
        await raw.send(Envelope(channel_data=ChannelData(channel_id=2, data=b"x" * 11)))
        with pytest.raises(InvalidInput, match="more than its credit"):
            await channel.receive()
        env = await next_frame(raw, "channel_close")
        assert env.channel_close.error.code == "invalid_input"
    assert await run is None


async def test_open_channel_checks_its_window(link_pair: PairFactory) -> None:
    pair = await link_pair()
    with pytest.raises(ValueError, match="window"):
        await pair.dialer.open_channel("x", window=0)


async def test_small_messages_are_never_split(link_pair: PairFactory) -> None:
    sizes: list[int] = []
    done = asyncio.Event()

    async def record(channel: Channel) -> None:
        async for _, data in channel:
            sizes.append(len(data))
        done.set()

    pair = await link_pair(acceptor={"on_channel": record})
    channel = await pair.dialer.open_channel("control", window=1000)
    for _ in range(40):  # 300 does not divide the window: credit runs out mid-message
        await channel.send(b"m" * 300, 3)
    await channel.send(b"L" * 1200)  # larger than half the window: split
    await channel.close()
    await done.wait()
    assert sizes == [300] * 40 + [500, 500, 200]

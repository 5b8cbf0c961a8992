"""A stream multiplexed on the link, with per-channel byte credit (DESIGN §2)."""

from __future__ import annotations

import asyncio
import enum
import itertools
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Protocol, Self

import structlog

from docklord.errors import DocklordError, InvalidInput, LinkClosed, NotFound, error_from_code
from docklord.link._outbox import Lane, Outbox
from docklord.link._tasks import log_failure
from docklord.protocol import (
    ChannelClose,
    ChannelCredit,
    ChannelData,
    ChannelOpen,
    Envelope,
    dump_json,
    error_from_proto,
    error_to_proto,
    load_json,
)

__all__ = [
    "DEFAULT_WINDOW",
    "MAX_CHUNK",
    "MAX_WINDOW",
    "Channel",
    "ChannelHandler",
    "ChannelState",
    "ChannelTable",
]

log = structlog.get_logger(__name__)

#: Bytes each end may receive before granting more credit, unless the opener says otherwise.
DEFAULT_WINDOW = 256 * 1024
#: The largest window an opener may ask for.
MAX_WINDOW = 16 * 1024 * 1024
#: Data is split into frames of at most this many bytes (or half the window if smaller).
MAX_CHUNK = 64 * 1024
#: :meth:`Channel.receive` yields to the event loop after this many frames, or this many
#: bytes, handed over without waiting (see there).
_YIELD_FRAMES = 64
_YIELD_BYTES = 256 * 1024


class ChannelState(enum.Enum):
    """Where a channel is in its life; every state but ``OPEN`` is final."""

    OPEN = "open"
    #: This end closed it.
    CLOSED = "closed"
    #: The peer closed it, cleanly or with an error.
    ENDED = "ended"
    #: The link died under it.
    LOST = "lost"


def _fresh(error: DocklordError) -> DocklordError:
    """A new instance for each raise, so tracebacks do not pile up on one object."""
    return error_from_code(error.code, error.message, error.details)


class Channel:
    """One end of a channel; the same class on the opening and the accepting end.

    Each direction has a window of ``window`` bytes: a sender may have at most that many
    bytes unread by the receiving consumer, and the receiver grants credit back as its
    consumer reads. A consumer that stops reading therefore stops the producer, and a
    channel buffers at most one window. Both ends start with the window the opener chose.

    Attributes:
        id: the channel id (odd when opened by the dialing end, even otherwise).
        kind: what the channel carries (``logs``, ``exec``, ...).
        args: the JSON arguments given by the opener.
    """

    def __init__(
        self,
        channel_id: int,
        kind: str,
        args: Any,
        *,
        window: int,
        outbox: Outbox,
        forget: Callable[[int], None],
        peer: str,
    ) -> None:
        self.id = channel_id
        self.kind = kind
        self.args = args
        self._grant_at = max(1, window // 2)
        self._frame_limit = min(MAX_CHUNK, self._grant_at)
        self._outbox = outbox
        self._forget = forget
        self._peer = peer
        self._state = ChannelState.OPEN
        self._end_error: DocklordError | None = None
        self._lane = Lane()
        self._credit = window  # bytes we may still send
        self._credit_changed = asyncio.Event()
        self._allowance = window  # bytes the peer may still send us
        self._unacked = 0  # bytes our consumer read that we have not granted back yet
        self._inbox: deque[tuple[int, bytes]] = deque()
        self._readable = asyncio.Event()
        # Frames and bytes handed over since receive() last waited or yielded.
        self._streak_frames = 0
        self._streak_bytes = 0

    def __repr__(self) -> str:
        return f"<Channel {self.id} {self.kind!r} {self._state.value}>"

    @property
    def state(self) -> ChannelState:
        """The channel's state."""
        return self._state

    async def send(self, data: bytes, stream: int = 0) -> None:
        """Sends bytes, waiting while the peer has not granted enough credit.

        Data of up to ``min(64 KiB, window / 2)`` bytes travels as one frame (so a small
        message, such as a JSON control message on stream 3, is never split); larger data
        is split into frames of that size. Empty data sends nothing.

        Args:
            data: the payload.
            stream: 0 = plain/stdin, 1 = stdout, 2 = stderr, 3 = control (JSON).

        Raises:
            LinkClosed: the channel or the link is closed.
            DocklordError: the peer closed the channel with this error.
        """
        payload = bytes(data)
        limit = self._frame_limit
        if len(payload) <= limit:
            if payload:
                await self._send_frame(payload, stream)
            return
        for offset in range(0, len(payload), limit):
            await self._send_frame(payload[offset : offset + limit], stream)

    async def _send_frame(self, chunk: bytes, stream: int) -> None:
        # A frame waits for credit for all of it. It cannot wait forever: it is at most half
        # the window, and the reader grants credit back whenever half the window was read.
        while self._credit < len(chunk):
            self._check_sendable()
            self._credit_changed.clear()
            await self._credit_changed.wait()
        self._check_sendable()
        self._credit -= len(chunk)
        frame = ChannelData(channel_id=self.id, data=chunk, stream=stream)
        self._outbox.put_data(self._lane, Envelope(channel_data=frame))

    def _check_sendable(self) -> None:
        if self._state is ChannelState.OPEN:
            return
        if self._end_error is not None:
            raise _fresh(self._end_error)
        if self._state is ChannelState.CLOSED:
            raise LinkClosed(f"channel {self.id} ({self.kind}) is closed")
        raise LinkClosed(f"channel {self.id} ({self.kind}) was closed by {self._peer}")

    async def receive(self) -> tuple[int, bytes] | None:
        """The next ``(stream, data)``; ``None`` once the channel ended cleanly.

        Data that arrived before the end is always delivered first.

        A consumer of a full inbox gets frame after frame without waiting, and its own sends
        (to a WebSocket, say) need not wait either: such a loop would hold the event loop for
        a whole window of small frames, long enough for the links' keepalives to starve. So
        every ``_YIELD_FRAMES`` frames or ``_YIELD_BYTES`` bytes handed over without a wait,
        this yields to the event loop once.

        Raises:
            DocklordError: the peer closed the channel with this error.
            LinkClosed: the link died.
        """
        if not self._inbox:
            self._streak_frames = self._streak_bytes = 0
        while not self._inbox:
            if self._state is not ChannelState.OPEN:
                if self._end_error is not None:
                    raise _fresh(self._end_error)
                return None
            self._readable.clear()
            await self._readable.wait()
        item = self._take()
        self._streak_frames += 1
        self._streak_bytes += len(item[1])
        if self._streak_frames >= _YIELD_FRAMES or self._streak_bytes >= _YIELD_BYTES:
            self._streak_frames = self._streak_bytes = 0
            await asyncio.sleep(0)
        return item

    async def receive_many(self, max_bytes: int = MAX_CHUNK) -> list[tuple[int, bytes]] | None:
        """The frames that have arrived: the next one (waiting for it as :meth:`receive`
        does), then those already here, up to about ``max_bytes``; ``None`` once the channel
        ended cleanly.

        For a consumer that forwards in batches (a log view gets one message for many
        lines, not one per frame).

        Raises:
            DocklordError: the peer closed the channel with this error.
            LinkClosed: the link died.
        """
        first = await self.receive()
        if first is None:
            return None
        items, size = [first], len(first[1])
        while self._inbox and size < max_bytes:
            item = self._take()
            items.append(item)
            size += len(item[1])
        return items

    def _take(self) -> tuple[int, bytes]:
        stream, data = self._inbox.popleft()
        if self._state is ChannelState.OPEN:
            self._unacked += len(data)
            if self._unacked >= self._grant_at:
                self._grant()
        return stream, data

    def _grant(self) -> None:
        credit, self._unacked = self._unacked, 0
        self._allowance += credit
        frame = ChannelCredit(channel_id=self.id, credit=credit)
        self._outbox.put_control(Envelope(channel_credit=frame))

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> tuple[int, bytes]:
        item = await self.receive()
        if item is None:
            raise StopAsyncIteration
        return item

    async def close(self, error: DocklordError | None = None) -> None:
        """Closes the channel and tells the peer (with ``error`` if given); idempotent.

        Data already sent is delivered before the close. Unread received data is dropped.
        """
        self._close(error)

    async def aclose(self) -> None:
        """Closes the channel cleanly; idempotent."""
        self._close(None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close(exc if isinstance(exc, DocklordError) else None)

    def _close(self, error: DocklordError | None) -> None:
        if self._state is not ChannelState.OPEN:
            return
        self._finish(ChannelState.CLOSED, None)
        self._inbox.clear()
        frame = ChannelClose(channel_id=self.id)
        if error is not None:
            frame.error.CopyFrom(error_to_proto(error))
        self._outbox.put_data(self._lane, Envelope(channel_close=frame))

    def _finish(self, state: ChannelState, error: DocklordError | None) -> None:
        if self._state is not ChannelState.OPEN:
            raise RuntimeError(f"channel {self.id}: illegal transition {self._state} -> {state}")
        self._state = state
        self._end_error = error
        self._forget(self.id)
        self._readable.set()
        self._credit_changed.set()

    # ---- called by the session's reader ----------------------------------------------------

    def _on_data(self, stream: int, data: bytes) -> None:
        if self._state is not ChannelState.OPEN:
            return
        if len(data) > self._allowance:
            error = InvalidInput(f"{self._peer} sent more than its credit on channel {self.id}")
            self._close(error)
            self._end_error = error
            return
        self._allowance -= len(data)
        self._inbox.append((stream, data))
        self._readable.set()

    def _on_credit(self, credit: int) -> None:
        self._credit += credit
        self._credit_changed.set()

    def _on_close(self, error: DocklordError | None) -> None:
        if self._state is ChannelState.OPEN:
            self._finish(ChannelState.ENDED, error)

    def _on_link_lost(self, error: LinkClosed) -> None:
        if self._state is ChannelState.OPEN:
            self._finish(ChannelState.LOST, error)


class ChannelHandler(Protocol):
    """Serves one channel the peer opened; the channel is closed when it returns.

    If it raises a ``DocklordError`` the close carries that error; any other exception
    closes it with ``internal`` and is logged.
    """

    def __call__(self, channel: Channel, /) -> Awaitable[None]: ...


class ChannelTable:
    """The open channels of a link session, by id, and the tasks serving the peer's."""

    def __init__(
        self, outbox: Outbox, peer: str, handler: ChannelHandler | None, *, dialer: bool
    ) -> None:
        self._outbox = outbox
        self._peer = peer
        self._handler = handler
        self._own_parity = 1 if dialer else 0
        self._ids = itertools.count(2 - self._own_parity, 2)
        self.channels: dict[int, Channel] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def open(self, kind: str, args: Any, window: int) -> Channel:
        """Registers a new channel of ours and queues its ``ChannelOpen``."""
        if not 0 < window <= MAX_WINDOW:
            raise ValueError(f"window must be in 1..{MAX_WINDOW}")
        encoded = dump_json(args)
        channel = self._new(next(self._ids), kind, args, window)
        frame = ChannelOpen(channel_id=channel.id, kind=kind, args=encoded, initial_credit=window)
        self._outbox.put_control(Envelope(channel_open=frame))
        return channel

    def _new(self, channel_id: int, kind: str, args: Any, window: int) -> Channel:
        channel = Channel(
            channel_id,
            kind,
            args,
            window=window,
            outbox=self._outbox,
            forget=self._forget,
            peer=self._peer,
        )
        self.channels[channel_id] = channel
        return channel

    def _forget(self, channel_id: int) -> None:
        self.channels.pop(channel_id, None)

    def lose_all(self, error: LinkClosed) -> None:
        """The link died: every channel's readers and writers get ``LinkClosed``."""
        channels = list(self.channels.values())
        self.channels.clear()
        for channel in channels:
            channel._on_link_lost(LinkClosed(error.message))

    def on_open(self, env: Envelope) -> None:
        """Accepts a channel the peer opened and serves it in its own task, or refuses it."""
        frame = env.channel_open
        try:
            args = load_json(frame.args)
            self._check_open(frame)
        except DocklordError as exc:
            self._refuse(frame.channel_id, exc)
            return
        handler = self._handler
        if handler is None:
            return
        window = frame.initial_credit or DEFAULT_WINDOW
        channel = self._new(frame.channel_id, frame.kind, args, window)
        task = asyncio.create_task(self._serve(handler, channel), name=f"link-channel {channel}")
        self.tasks.add(task)
        task.add_done_callback(self._served)

    def _check_open(self, frame: ChannelOpen) -> None:
        if self._handler is None:
            raise NotFound(f"this end of the link serves no channels ({frame.kind!r})")
        if frame.channel_id % 2 == self._own_parity or frame.channel_id in self.channels:
            raise InvalidInput(
                f"channel id {frame.channel_id} is not the peer's to open "
                "(do both ends have the same `dialer` setting?)"
            )
        if frame.initial_credit > MAX_WINDOW:
            raise InvalidInput(f"channel window {frame.initial_credit} exceeds {MAX_WINDOW}")

    def _refuse(self, channel_id: int, error: DocklordError) -> None:
        log.info("link.channel_refused", peer=self._peer, channel=channel_id, error=error.message)
        frame = ChannelClose(channel_id=channel_id, error=error_to_proto(error))
        self._outbox.put_control(Envelope(channel_close=frame))

    async def _serve(self, handler: ChannelHandler, channel: Channel) -> None:
        try:
            await handler(channel)
        except DocklordError as exc:
            log.debug("link.channel_error", channel=repr(channel), code=exc.code)
            await channel.close(exc)
        except Exception:
            log.exception("link.channel_failed", channel=repr(channel), peer=self._peer)
            await channel.close(DocklordError(f"internal error in {channel.kind!r} channel"))
        else:
            await channel.close()

    def _served(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        log_failure(task)

    def on_data(self, env: Envelope) -> None:
        """Buffers data for its channel; data for unknown (closed) channels is dropped."""
        frame = env.channel_data
        channel = self.channels.get(frame.channel_id)
        if channel is not None:
            channel._on_data(frame.stream, frame.data)

    def on_credit(self, env: Envelope) -> None:
        """Lets a channel send more."""
        frame = env.channel_credit
        channel = self.channels.get(frame.channel_id)
        if channel is not None:
            channel._on_credit(frame.credit)

    def on_close(self, env: Envelope) -> None:
        """Ends a channel the peer closed."""
        frame = env.channel_close
        channel = self.channels.get(frame.channel_id)
        if channel is not None:
            error = error_from_proto(frame.error) if frame.HasField("error") else None
            channel._on_close(error)

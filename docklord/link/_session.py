"""The link session: requests, channels, messages and keepalive over one transport."""

from __future__ import annotations

import asyncio
import enum
import itertools
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Protocol, Self

import structlog

from docklord.errors import InvalidInput, LinkClosed, LinkError
from docklord.link._channel import DEFAULT_WINDOW, Channel, ChannelHandler, ChannelTable
from docklord.link._outbox import Outbox
from docklord.link._requests import RequestHandler, RequestTable
from docklord.link._settings import LinkSettings
from docklord.link._tasks import cancel_and_wait
from docklord.link._transport import Transport
from docklord.protocol import Batch, Envelope, Ping, Pong

__all__ = ["LinkSession", "MessageHandler", "SessionState"]

log = structlog.get_logger(__name__)

#: How long a local close waits for already queued frames to be written.
FLUSH_TIMEOUT = 1.0
#: The writer sends what is queued as one ``Batch`` of at most this many frames...
BATCH_FRAMES = 256
#: ...and about this many encoded bytes (well under ``MAX_FRAME_BYTES``).
BATCH_BYTES = 1024 * 1024

_DEFAULT_SETTINGS = LinkSettings()


class MessageHandler(Protocol):
    """Receives the other envelopes (snapshot, events, engine status...), in order."""

    def __call__(self, env: Envelope, /) -> Awaitable[None]: ...


class SessionState(enum.Enum):
    """The life of a :class:`LinkSession`; transitions only go forward."""

    NEW = "new"
    RUNNING = "running"
    CLOSING = "closing"
    CLOSED = "closed"


_TRANSITIONS = {
    SessionState.NEW: {SessionState.RUNNING, SessionState.CLOSING},
    SessionState.RUNNING: {SessionState.CLOSING},
    SessionState.CLOSING: {SessionState.CLOSED},
    SessionState.CLOSED: set[SessionState](),
}


class LinkSession:
    """Requests, channels and messages over one transport; the same class on both ends.

    Use as an async context manager and keep :meth:`run` running while the link is used::

        async with LinkSession(transport, on_request=serve) as session:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(session.run())
                result = await session.request("containers.list", {"all": True})

    Requests are served concurrently, each in its own task; beyond
    ``max_concurrent_requests`` the peer gets a ``link_error`` answer at once. Control
    frames never wait behind channel data, and channels share the link round-robin.

    Args:
        transport: the link.
        name: a name for logs (the node id, for instance).
        on_request: serves requests from the peer; without it they fail with ``not_found``.
        on_channel: serves channels the peer opens; without it they are refused.
        on_message: receives every other envelope in order; it holds up the reader, so keep
            it quick (without it they are dropped).
        settings: pings, the silence limit, the default request timeout and the cap on
            requests served at once (:class:`LinkSettings`).
        dialer: True on the end that dialed the link (the node): its channel ids are odd,
            the other end's even, so both ends can open channels without collisions.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        name: str = "",
        on_request: RequestHandler | None = None,
        on_channel: ChannelHandler | None = None,
        on_message: MessageHandler | None = None,
        settings: LinkSettings = _DEFAULT_SETTINGS,
        dialer: bool = False,
    ) -> None:
        self._transport = transport
        self._peer = transport.peer
        self._name = name or transport.peer
        self._on_message = on_message
        self._settings = settings
        self._ping_interval = settings.ping_interval
        self._dead_after = settings.dead_after
        self._default_timeout = settings.request_timeout
        self._state = SessionState.NEW
        self._outbox = Outbox()
        self._requests = RequestTable(
            self._outbox, self._peer, on_request, settings.max_concurrent_requests
        )
        self._channels = ChannelTable(self._outbox, self._peer, on_channel, dialer=dialer)
        self._loops: list[asyncio.Task[None]] = []
        self._ping_nonces = itertools.count(1)
        #: The newest ping: its nonce and loop time, to measure the round trip on its pong.
        self._ping_sent: tuple[int, float] | None = None
        self._rtt: float | None = None
        self._last_rx = 0.0
        self._busy = False
        self._closed_locally = False
        self._close_error: LinkClosed | None = None
        self._stopping = asyncio.Event()
        self._shutdown_done = asyncio.Event()
        self._dispatch: dict[str, Callable[[Envelope], None]] = {
            "ping": self._on_ping,
            "pong": self._on_pong,
            "request": self._requests.on_request,
            "response": self._requests.on_response,
            "cancel": self._requests.on_cancel,
            "channel_open": self._channels.on_open,
            "channel_data": self._channels.on_data,
            "channel_credit": self._channels.on_credit,
            "channel_close": self._channels.on_close,
        }

    def __repr__(self) -> str:
        return f"<LinkSession {self._name} {self._state.value}>"

    # ---- state -------------------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """Where the session is in its life."""
        return self._state

    @property
    def closed(self) -> bool:
        """True once the session is closing or closed; nothing more can be sent."""
        return self._state in (SessionState.CLOSING, SessionState.CLOSED)

    @property
    def settings(self) -> LinkSettings:
        """The keepalive and timeout settings this session runs with."""
        return self._settings

    @property
    def peer(self) -> str:
        """The peer's address (from the transport)."""
        return self._peer

    @property
    def pending_requests(self) -> int:
        """Requests sent by this end that wait for an answer."""
        return len(self._requests.pending)

    @property
    def serving_requests(self) -> int:
        """Requests from the peer being served now."""
        return len(self._requests.serving)

    @property
    def open_channels(self) -> int:
        """Channels open on this link (opened by either end)."""
        return len(self._channels.channels)

    def _set_state(self, state: SessionState) -> None:
        if state not in _TRANSITIONS[self._state]:
            raise RuntimeError(f"link session: illegal transition {self._state} -> {state}")
        self._state = state

    def _ensure_open(self) -> None:
        if self.closed:
            reason = self._close_error.message if self._close_error else "closed"
            raise LinkClosed(f"link to {self._peer} is closed ({reason})")

    # ---- what callers use --------------------------------------------------------------------

    async def request(
        self,
        method: str,
        args: Any = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-call deadline is the contract
    ) -> Any:
        """Calls ``method`` on the peer and returns its JSON result.

        Args:
            method: the operation's name.
            args: its JSON arguments.
            timeout: seconds to wait for the answer (default: ``settings.request_timeout``).

        Raises:
            RequestTimeout: no answer in time; the peer is told to cancel the call.
            LinkClosed: the link closed before the answer came.
            DocklordError: the peer's error, as the same class.
        """
        self._ensure_open()
        wait = self._default_timeout if timeout is None else timeout
        return await self._requests.call(method, args, wait)

    async def open_channel(
        self, kind: str, args: Any = None, *, window: int = DEFAULT_WINDOW
    ) -> Channel:
        """Opens a channel to the peer's channel handler; returns without a round trip.

        If the peer refuses, the channel's ``receive`` and ``send`` raise the peer's error.

        Args:
            kind: what the channel carries (``logs``, ``exec``...).
            args: JSON arguments for the peer's handler.
            window: bytes each direction may have unread before the reader grants more.
        """
        self._ensure_open()
        return self._channels.open(kind, args, window)

    async def send(self, env: Envelope) -> None:
        """Sends an unsolicited message (snapshot, events, engine status...), in order.

        Waits while many frames are queued for the transport.

        Raises:
            ValueError: the envelope is one the session manages (request, channel, ping...).
            LinkClosed: the link is closed.
        """
        self._ensure_open()
        kind = env.WhichOneof("body")
        if kind is None or kind == "batch" or kind in self._dispatch:
            raise ValueError(f"send() carries messages such as snapshot or events, not {kind}")
        await self._outbox.put_message(env)

    # ---- life cycle --------------------------------------------------------------------------

    async def run(self) -> None:
        """Reads, writes and keeps the link alive until it closes.

        Returns when this end closed the session (:meth:`aclose`), also if that happened
        before ``run`` started. Everything pending fails with ``LinkClosed`` when the link
        ends.

        Raises:
            LinkClosed: the peer closed the link, it broke, or it was silent for
                ``dead_after`` seconds (``no frame from <peer> for 5s``).
            Exception: whatever ``on_message`` raised (the link is closed first).
        """
        if self._state is SessionState.RUNNING:
            raise RuntimeError("LinkSession.run() is already running")
        if self.closed:
            if self._closed_locally:
                return
            self._ensure_open()
        self._set_state(SessionState.RUNNING)
        self._start_loops()
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            done, _ = await asyncio.wait([*self._loops, stopping], return_when="FIRST_COMPLETED")
        except asyncio.CancelledError:
            await self._shutdown(LinkClosed(f"link to {self._peer} was cancelled"))
            raise
        finally:
            stopping.cancel()
        failure = self._failure(done)
        await self._shutdown(failure if isinstance(failure, LinkClosed) else self._broken(failure))
        if failure is not None and not self._closed_locally:
            raise failure

    def _start_loops(self) -> None:
        self._last_rx = asyncio.get_running_loop().time()
        self._loops = [
            asyncio.create_task(self._read_loop(), name=f"link-reader {self._name}"),
            asyncio.create_task(self._write_loop(), name=f"link-writer {self._name}"),
            asyncio.create_task(self._keepalive_loop(), name=f"link-keepalive {self._name}"),
        ]
        for task in self._loops:
            task.add_done_callback(_observe)

    def _failure(self, done: set[asyncio.Task[Any]]) -> BaseException | None:
        for task in done:
            if task in self._loops and not task.cancelled():
                exc = task.exception()
                if isinstance(exc, InvalidInput):
                    error = LinkClosed(f"protocol error from {self._peer}: {exc.message}")
                    error.__cause__ = exc
                    return error
                return exc or LinkClosed(f"link to {self._peer} ended")
        return None

    def _broken(self, failure: BaseException | None) -> LinkClosed:
        if failure is None:
            return LinkClosed(f"link to {self._peer} closed")
        return LinkClosed(f"link to {self._peer} closed after an error: {failure!r}")

    async def aclose(self) -> None:
        """Closes the session: flushes queued frames (briefly), fails pending calls, closes
        channels (their readers get ``LinkClosed``), cancels handlers, closes the transport.

        Idempotent; concurrent calls wait for the first to finish.
        """
        if not self.closed:
            self._closed_locally = True
        await self._shutdown(LinkClosed(f"link to {self._peer} closed by this end"))

    async def drain(self, grace: float) -> int:
        """Refuses new requests from the peer and waits up to ``grace`` seconds for the ones
        being served to answer (a shutdown's first step; :meth:`aclose` is the next).

        Refused requests fail with ``link_error`` at once, so the peer can tell them from a
        timeout. Channels are not waited for: a followed log never ends by itself.

        Returns:
            How many requests were still being served at the deadline.
        """
        # Read by the peer, for whom this end is the other one.
        self._requests.refusal = LinkError("the other end of this link is shutting down")
        serving = list(self._requests.serving.values())
        if not serving:
            return 0
        _, left = await asyncio.wait(serving, timeout=grace)
        return len(left)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _shutdown(self, error: LinkClosed) -> None:
        if self.closed:
            await self._shutdown_done.wait()
            return
        self._set_state(SessionState.CLOSING)
        self._close_error = error
        self._stopping.set()
        try:
            if self._closed_locally:
                await self._flush()
            self._requests.fail_pending(error)
            self._channels.lose_all(error)
            self._outbox.close()
            await cancel_and_wait(
                [*self._loops, *self._requests.serving.values(), *self._channels.tasks]
            )
        finally:
            await self._close_transport()
            self._set_state(SessionState.CLOSED)
            self._shutdown_done.set()
            log.info("link.closed", name=self._name, peer=self._peer, reason=error.message)

    async def _flush(self) -> None:
        writer = self._loops[1] if self._loops else None
        if writer is None or writer.done():
            return
        try:
            async with asyncio.timeout(FLUSH_TIMEOUT):
                await self._outbox.idle.wait()
        except TimeoutError:
            log.info("link.flush_timeout", name=self._name, peer=self._peer)

    async def _close_transport(self) -> None:
        try:
            await self._transport.close()
        except Exception:  # closing is best effort: the link is gone either way
            log.warning("link.transport_close_failed", peer=self._peer, exc_info=True)

    # ---- the loops ---------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        receive = self._transport.receive
        while True:
            env = await receive()
            self._last_rx = loop.time()
            if env.WhichOneof("body") == "batch":
                for inner in env.batch.envelopes:
                    await self._handle(inner, nested=True)
            else:
                await self._handle(env)

    async def _handle(self, env: Envelope, *, nested: bool = False) -> None:
        kind = env.WhichOneof("body")
        handle = self._dispatch.get(kind) if kind is not None else None
        if handle is not None:
            handle(env)
        elif kind == "batch":
            raise InvalidInput(f"{self._peer} sent a nested batch")
        elif kind is not None:
            await self._deliver(env, kind)
        else:
            log.debug("link.empty_frame", peer=self._peer, nested=nested)

    async def _deliver(self, env: Envelope, kind: str) -> None:
        if self._on_message is None:
            log.debug("link.message_dropped", peer=self._peer, kind=kind)
            return
        self._busy = True
        try:
            await self._on_message(env)
        finally:
            self._busy = False

    async def _write_loop(self) -> None:
        get_batch, send = self._outbox.get_batch, self._transport.send
        while True:
            frames = await get_batch(BATCH_FRAMES, BATCH_BYTES)
            await send(frames[0] if len(frames) == 1 else Envelope(batch=Batch(envelopes=frames)))

    async def _keepalive_loop(self) -> None:
        loop = asyncio.get_running_loop()
        tick = min(self._ping_interval, self._dead_after / 4)
        next_ping = loop.time()
        while True:
            now = loop.time()
            if now >= next_ping:
                nonce = next(self._ping_nonces)
                self._ping_sent = (nonce, now)
                self._outbox.put_control(Envelope(ping=Ping(nonce=nonce)))
                next_ping = now + self._ping_interval
            if now - self._last_rx >= self._dead_after and not self._busy:
                raise LinkClosed(f"no frame from {self._peer} for {self._dead_after:g}s")
            await asyncio.sleep(tick)

    def _on_ping(self, env: Envelope) -> None:
        self._outbox.put_control(Envelope(pong=Pong(nonce=env.ping.nonce)))

    def _on_pong(self, env: Envelope) -> None:
        """Measure the round trip (liveness needs nothing: the reader noted the frame's time).

        Only the newest ping counts: a pong of an older one arrives after a newer ping went out,
        and pairing it with that ping's time would understate the round trip.
        """
        sent = self._ping_sent
        if sent is not None and env.pong.nonce == sent[0]:
            self._rtt = asyncio.get_running_loop().time() - sent[1]
            self._ping_sent = None

    @property
    def rtt(self) -> float | None:
        """Seconds from the newest answered ping to its pong (``None`` before the first)."""
        return self._rtt


def _observe(task: asyncio.Task[None]) -> None:
    """Marks a loop's exception as seen: ``run`` reports the first one, the rest follow it."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.debug("link.loop_ended", task=task.get_name(), error=repr(exc))

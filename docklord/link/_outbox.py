"""What the link session's single writer sends next: control frames first, then channel data.

Control frames (requests, responses, pings, credits, channel opens, messages) go out in FIFO
order ahead of any channel data, so a flooding stream never delays them by more than the one
data frame being written. Channel data is taken round-robin, one frame per channel per turn,
so one busy channel does not starve another. A channel's close travels in its own lane, behind
its data.
"""

from __future__ import annotations

import asyncio
from collections import deque

from docklord.errors import LinkClosed
from docklord.protocol import Envelope

__all__ = ["Lane", "Outbox"]


class Lane:
    """The frames of one channel waiting for the writer, in order."""

    __slots__ = ("frames", "scheduled")

    def __init__(self) -> None:
        self.frames: deque[Envelope] = deque()
        self.scheduled = False


class Outbox:
    """The queue between the session's senders and its one writer task.

    Args:
        high_water: ``put_message`` waits while this many control frames are queued.
    """

    def __init__(self, high_water: int = 1024) -> None:
        self._control: deque[Envelope] = deque()
        self._ready: deque[Lane] = deque()
        self._high_water = high_water
        self._wakeup = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self.idle = asyncio.Event()
        self.idle.set()
        self.closed = False

    def put_control(self, env: Envelope) -> None:
        """Queues a control frame; never waits (their number is bounded by the protocol)."""
        if self.closed:
            return  # the link is gone; whoever waits for an answer learns it another way
        self._control.append(env)
        self.idle.clear()
        self._wakeup.set()

    async def put_message(self, env: Envelope) -> None:
        """Queues an unsolicited message, waiting while too many control frames are queued."""
        while len(self._control) >= self._high_water and not self.closed:
            self._room.clear()
            await self._room.wait()
        if self.closed:
            raise LinkClosed("the link is closed")
        self.put_control(env)

    def put_data(self, lane: Lane, env: Envelope) -> None:
        """Queues a channel frame behind the channel's earlier ones."""
        if self.closed:
            return
        lane.frames.append(env)
        if not lane.scheduled:
            lane.scheduled = True
            self._ready.append(lane)
        self.idle.clear()
        self._wakeup.set()

    async def get(self) -> Envelope:
        """The next frame to write, waiting for one.

        Raises:
            LinkClosed: the outbox was closed.
        """
        while not (self._control or self._ready):
            if self.closed:
                raise LinkClosed("the link is closed")
            self.idle.set()
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._take()

    async def get_batch(self, max_frames: int, max_bytes: int) -> list[Envelope]:
        """The next frames to write together: one (waiting for it), then what else is queued,
        up to ``max_frames`` frames and about ``max_bytes`` encoded bytes."""
        batch = [await self.get()]
        size = batch[0].ByteSize()
        while len(batch) < max_frames and size < max_bytes and (self._control or self._ready):
            env = self._take()
            size += env.ByteSize()
            batch.append(env)
        return batch

    def _take(self) -> Envelope:
        if self._control:
            env = self._control.popleft()
            if len(self._control) < self._high_water:
                self._room.set()
            return env
        lane = self._ready.popleft()
        env = lane.frames.popleft()
        if lane.frames:
            self._ready.append(lane)
        else:
            lane.scheduled = False
        return env

    def close(self) -> None:
        """Drops everything queued and wakes every waiter."""
        self.closed = True
        self._control.clear()
        for lane in self._ready:
            lane.frames.clear()
            lane.scheduled = False
        self._ready.clear()
        self._wakeup.set()
        self._room.set()
        self.idle.set()

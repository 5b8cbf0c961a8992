"""Following a container's output across the engine ending a follow early.

Docker 20.10 at times ends a ``follow`` stream for a slow reader before the output is all
sent, with a normal end of stream, whether the container still runs or has just exited. A
follow therefore asks the engine for timestamps, remembers the last one it delivered, and when
the stream ends it resumes with ``since`` that timestamp: a follow again while the container
runs, else one read without follow for whatever the early end left out. Several messages can
share one timestamp (nanoseconds, but a burst is fast), so the messages already delivered with
the last timestamp are skipped again by count. That keeps every message exactly once.
"""

from __future__ import annotations

import calendar
import time

__all__ = ["STAMP_SIZE", "Resume", "split_stamp", "stamp_seconds"]

#: ``2006-01-02T15:04:05.000000000Z`` and a space: the engine's fixed-width log timestamp.
STAMP_SIZE = 31


def split_stamp(message: bytes) -> tuple[bytes, bytes]:
    """``(timestamp, text)`` of one message; an empty timestamp when it carries none."""
    if len(message) >= STAMP_SIZE and message[STAMP_SIZE - 1 : STAMP_SIZE] == b" ":
        stamp = message[: STAMP_SIZE - 1]
        if stamp[4:5] == b"-" and stamp[10:11] == b"T" and stamp.endswith(b"Z"):
            return stamp, message[STAMP_SIZE:]
    return b"", message


def stamp_seconds(stamp: bytes) -> float:
    """Unix seconds of an engine timestamp (to the microsecond a float holds)."""
    whole, _, fraction = stamp.decode().rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return seconds + int(fraction.ljust(9, "0")[:9]) / 1e9


class Resume:
    """Which messages of a resumed stream were delivered already."""

    def __init__(self) -> None:
        self.last = b""  # the newest timestamp delivered
        self._count = 0  # messages delivered with exactly ``last``
        self._skip = 0

    def since(self) -> float | None:
        """Where the next read starts: a little before ``last`` (the filter is inclusive)."""
        return stamp_seconds(self.last) - 1e-6 if self.last else None

    def restart(self) -> None:
        """A new read begins: it sends the messages stamped ``last`` again."""
        self._skip = self._count

    def take(self, stamp: bytes) -> bool:
        """Whether the message stamped ``stamp`` is new (and so delivered now)."""
        if not stamp:
            return True
        if stamp < self.last:
            return False
        if stamp == self.last:
            if self._skip:
                self._skip -= 1
                return False
            self._count += 1
            return True
        self.last, self._count, self._skip = stamp, 1, 0
        return True

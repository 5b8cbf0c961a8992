"""Per-source budgets for what strangers may cost the coordinator (link failures, registrations).

A token bucket per source address: ``burst`` tokens, refilled at ``rate`` per second. Work
that costs a token is refused while the source's bucket is empty, so one address can neither
stall the coordinator with a flood of bad handshakes nor fill the store with registrations.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["SourceBudget", "source_of"]


class SourceBudget:
    """Token buckets by source address.

    Args:
        burst: tokens a source starts with (and holds at most).
        rate: tokens given back per second.
        clock: monotonic seconds (tests pass a fake).
        max_sources: sources tracked at most; the least recently charged are forgotten first
            (a forgotten source starts afresh, which only loosens the limit).
    """

    def __init__(
        self,
        *,
        burst: float,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        max_sources: int = 10_000,
    ) -> None:
        if burst < 1 or rate <= 0:
            raise ValueError("a budget needs burst >= 1 and rate > 0")
        self.burst = burst
        self.rate = rate
        self._clock = clock
        self._max = max_sources
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _level(self, source: str) -> float:
        entry = self._buckets.get(source)
        if entry is None:
            return self.burst
        tokens, since = entry
        return min(self.burst, tokens + (self._clock() - since) * self.rate)

    def exhausted(self, source: str) -> bool:
        """Whether ``source`` has less than one token left (it should be refused)."""
        return self._level(source) < 1

    def charge(self, source: str) -> None:
        """Takes one token from ``source`` (down to zero)."""
        tokens = max(0.0, self._level(source) - 1)
        self._buckets[source] = (tokens, self._clock())
        self._buckets.move_to_end(source)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)

    def retry_after(self, source: str) -> float:
        """Seconds until ``source`` has a token again (0 if it has one)."""
        return max(0.0, (1 - self._level(source)) / self.rate)


def source_of(peer: str) -> str:
    """The address part of a transport's ``peer`` name: ``1.2.3.4:5678`` -> ``1.2.3.4``.

    Also takes gRPC's ``ipv4:1.2.3.4:5678`` and ``ipv6:[::1]:5678``; a name without a port
    (an in-memory transport) is its own source.
    """
    for prefix in ("ipv4:", "ipv6:"):
        if peer.startswith(prefix):
            peer = peer[len(prefix) :]
    host, sep, port = peer.rpartition(":")
    if not sep or not port.isdigit():
        return peer
    return host.strip("[]")

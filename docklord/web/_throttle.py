"""Slowing down password guessing: per account and per source address, never by sleeping.

Each failed sign-in is a strike against the account name and one against the client address.
Past a free allowance the key is locked for a delay that doubles with every further strike
(1 s, 2 s, 4 s ... up to 15 minutes); while locked, attempts are answered ``429`` with
``Retry-After`` at once, without checking the password (so guessing also costs no CPU). A
success clears the account's strikes. Strikes are forgotten after 15 quiet minutes.

A strike is counted *before* the password is checked (``attempt``) and taken back on success
(``succeeded``), so a burst of parallel guesses is throttled as surely as a sequence; a failure
(``failed``) starts the lock when the answer is known.

Node credentials used as an access key (``?node_id=&password=``) are throttled so that a
stranger cannot lock the owner out (:func:`node_keys`): the tight allowance (``free``) is per
node *and source* (``node-from:<id>@<addr>``); the node as a whole (``node:<id>``) has a much
higher ceiling (``free_node``) that only a guessing campaign from many addresses reaches, and a
source that proved the node's secret recently (:meth:`LoginThrottle.trust`) is not held by that
ceiling at all. Shared keys (``addr:``, ``node:``) take back one strike on a success instead of
being cleared, so that the owner's own use does not wipe out a campaign's strikes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from docklord.errors import Unauthenticated

__all__ = ["LoginThrottle", "TooManyAttempts", "node_keys"]

#: Keys shared by many callers: a success takes back one strike instead of clearing them.
_SHARED = ("addr:", "node:")


class TooManyAttempts(Unauthenticated):
    """Too many failed attempts for this account or address; retry after ``retry_after`` s."""

    code = "too_many_requests"
    status = 429

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(
            f"too many failed attempts; try again in {self.retry_after} s",
            details={"retry_after": self.retry_after},
        )


@dataclass
class _Strikes:
    count: int = 0
    last: float = 0.0
    locked_until: float = 0.0


class LoginThrottle:
    """Counts failed attempts per key (``user:<name>``, ``node:<id>``, ``addr:<ip>``).

    Args:
        clock: monotonic seconds (tests pass a fake).
        free: failures allowed per account (or node and source) before the first lock.
        free_address: failures allowed per address (several users may share one).
        free_node: failures allowed per node from all sources together.
        trust_for: seconds a source that proved a node's secret stays exempt from the node's
            ceiling.
        base_delay: the first lock, in seconds; each further failure doubles it.
        max_delay: the longest lock.
        forget_after: seconds without a failure after which a key starts afresh.
        max_keys: how many keys are kept at most (the oldest quiet ones go first).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        free: int = 5,
        free_address: int = 20,
        free_node: int = 100,
        trust_for: float = 7 * 86400.0,
        base_delay: float = 1.0,
        max_delay: float = 900.0,
        forget_after: float = 900.0,
        max_keys: int = 100_000,
    ) -> None:
        self._clock = clock
        self._free = free
        self._free_address = free_address
        self._free_node = free_node
        self._trust_for = trust_for
        self._base = base_delay
        self._max = max_delay
        self._forget = forget_after
        self._max_keys = max_keys
        self._strikes: dict[str, _Strikes] = {}
        self._trusted: dict[str, float] = {}

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until every key in ``keys`` may try again (0: now)."""
        now = self._clock()
        waits = [self._strikes[k].locked_until - now for k in keys if k in self._strikes]
        return max([0.0, *waits])

    def attempt(self, keys: Iterable[str]) -> None:
        """Start an attempt: refuse it while locked, else count a strike for each key.

        Raises:
            TooManyAttempts: a key is locked.
        """
        keys = tuple(keys)
        wait = self.retry_after(keys)
        if wait > 0:
            raise TooManyAttempts(wait)
        now = self._clock()
        for key in keys:
            self._strike(key, now)
        if len(self._strikes) > self._max_keys:
            self._prune(now)

    def failed(self, keys: Iterable[str]) -> None:
        """The attempt failed: its strikes stand, and a lock runs from now (checking the
        password took time)."""
        now = self._clock()
        for key in keys:
            entry = self._strikes.get(key)
            if entry is not None:
                entry.last = max(entry.last, now)
                entry.locked_until = self._lock_end(key, entry)

    def succeeded(self, keys: Iterable[str]) -> None:
        """The attempt succeeded: clear the account and take back the shared keys' strike."""
        for key in keys:
            entry = self._strikes.get(key)
            if entry is None:
                continue
            if key.startswith(_SHARED) and entry.count > 1:
                entry.count -= 1
                entry.locked_until = self._lock_end(key, entry)
            else:
                del self._strikes[key]

    def trust(self, key: str) -> None:
        """Remember that ``key`` (a ``node-from:`` pair) proved the secret just now."""
        now = self._clock()
        self._trusted[key] = now
        if len(self._trusted) > self._max_keys:
            oldest = sorted(self._trusted, key=self._trusted.__getitem__)
            for stale in oldest[: len(oldest) - self._max_keys // 2]:
                del self._trusted[stale]

    def trusted(self, key: str) -> bool:
        """Whether ``key`` proved the secret within ``trust_for`` seconds."""
        since = self._trusted.get(key)
        return since is not None and self._clock() - since <= self._trust_for

    def _strike(self, key: str, now: float) -> None:
        entry = self._strikes.setdefault(key, _Strikes())
        if now - entry.last > self._forget:
            entry.count = 0
        entry.count += 1
        entry.last = now
        entry.locked_until = self._lock_end(key, entry)

    def _lock_end(self, key: str, entry: _Strikes) -> float:
        free = self._free_for(key)
        if entry.count < free:
            return 0.0
        exponent = min(entry.count - free, 30)
        return entry.last + min(self._max, self._base * 2.0**exponent)

    def _free_for(self, key: str) -> int:
        if key.startswith("addr:"):
            return self._free_address
        if key.startswith("node:"):
            return self._free_node
        return self._free

    def _prune(self, now: float) -> None:
        for key in [k for k, e in self._strikes.items() if now - e.last > self._forget]:
            del self._strikes[key]
        if len(self._strikes) > self._max_keys:
            by_age = sorted(self._strikes, key=lambda k: self._strikes[k].last)
            for key in by_age[: len(by_age) - self._max_keys // 2]:
                del self._strikes[key]

    def __len__(self) -> int:
        return len(self._strikes)


def node_keys(throttle: LoginThrottle, node_id: str, source: str) -> tuple[str, ...]:
    """The keys an attempt with node credentials counts against (see the module docstring).

    A source that recently proved the secret is not held by the node's ceiling, so a campaign
    from many addresses cannot lock the owner out of its usual place.
    """
    pair = f"node-from:{node_id}@{source}"
    keys = [pair, f"addr:{source}"]
    if not throttle.trusted(pair):
        keys.append(f"node:{node_id}")
    return tuple(keys)

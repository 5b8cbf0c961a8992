"""The settings of one link session, in one frozen object."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LinkSettings"]

#: The node's silence limit is this many of the coordinator's ping intervals: two pings may
#: be lost (or delayed behind a busy event loop) before the link is declared dead.
DEAD_AFTER_PINGS = 2.5


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """How a :class:`~docklord.link.LinkSession` keeps its link alive and waits for answers.

    Attributes:
        ping_interval: seconds between pings.
        dead_after: seconds without any frame after which the link is declared dead.
        request_timeout: seconds a request waits for its answer unless told otherwise.
        max_concurrent_requests: requests from the peer served at once.
    """

    ping_interval: float = 2.0
    dead_after: float = 5.0
    request_timeout: float = 30.0
    max_concurrent_requests: int = 256

    def __post_init__(self) -> None:
        if not 0 < self.ping_interval < self.dead_after:
            raise ValueError("need 0 < ping_interval < dead_after")
        if self.request_timeout <= 0 or self.max_concurrent_requests < 1:
            raise ValueError("request_timeout and max_concurrent_requests must be positive")

    @classmethod
    def for_ping_interval_ms(cls, ping_interval_ms: int) -> LinkSettings:
        """The node's settings for the ping interval a coordinator's ``Welcome`` names.

        ``0`` (a coordinator that does not say) keeps the defaults.
        """
        if ping_interval_ms <= 0:
            return cls()
        interval = ping_interval_ms / 1000
        return cls(ping_interval=interval, dead_after=interval * DEAD_AFTER_PINGS)

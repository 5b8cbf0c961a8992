"""Shared constants and types of the engine tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

__all__ = ["IDLE", "MakeContainer"]

#: A main process that exits at once on SIGTERM (a plain ``sleep`` as PID 1 ignores it).
IDLE = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]

#: The ``make_container`` fixture: ``await make_container(cmd, start=True, **spec_fields)``.
MakeContainer = Callable[..., Awaitable[str]]

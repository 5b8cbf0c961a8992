from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

__all__ = ["eventually"]


async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - bounds many awaits, not one
    interval: float = 0.02,
    what: str = "condition",
) -> T:
    """Await ``probe`` until it returns a truthy value or stops raising ``AssertionError``.

    Returns the first truthy value. After ``timeout`` seconds, raises ``AssertionError`` with the
    last failure, so a test says what it waited for instead of hanging or sleeping blindly.
    """
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = await probe()
            if value:
                return value
            last = None
        except AssertionError as exc:
            last = exc
        if time.monotonic() >= deadline:
            detail = f": {last}" if last else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{detail}")
        await asyncio.sleep(interval)

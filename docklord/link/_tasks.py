"""Helpers for the tasks the link keeps (every task has an owner and its failure is logged)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import structlog

__all__ = ["cancel_and_wait", "log_failure"]

log = structlog.get_logger(__name__)


def log_failure(task: asyncio.Task[Any]) -> None:
    """Done-callback for tasks whose own code handles every expected error."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("link.task_failed", task=task.get_name(), exc_info=exc)


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancels the tasks (except the calling one) and waits until they are done.

    Their outcomes are left to their done-callbacks or owners.
    """
    current = asyncio.current_task()
    others = {task for task in tasks if task is not current and not task.done()}
    for task in others:
        task.cancel()
    if others:
        await asyncio.wait(others)

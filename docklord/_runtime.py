"""Process signals: ``kill -USR1 PID`` logs asyncio tasks, RSS and open fds; SIGTERM and
SIGINT start a graceful shutdown.

The soak command (``bench/soak.py``) reads the figures to show that long runs leak nothing. A
signal and a log line need no endpoint, so nothing is exposed to the network.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

import structlog

__all__ = ["install_shutdown_signals", "install_stats_signal", "runtime_stats"]

log = structlog.get_logger(__name__)


def runtime_stats() -> dict[str, int]:
    """This process's asyncio tasks, resident memory (KiB) and open file descriptors."""
    rss = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return {
        "tasks": len(asyncio.all_tasks()),
        "rss_kib": rss,
        "fds": len(os.listdir("/proc/self/fd")),
    }


def install_stats_signal() -> None:
    """Log ``runtime stats`` whenever the process gets SIGUSR1 (call from the running loop).

    Only a loop in the main thread can take signals; elsewhere (an embedded coordinator in a
    thread) this does nothing.
    """
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(
            signal.SIGUSR1, lambda: log.info("runtime stats", **runtime_stats())
        )
    except (RuntimeError, ValueError, NotImplementedError):
        # asyncio's own refusals, none of them an error of ours: ValueError off the main
        # thread (the in-process fleets of the tests), RuntimeError on a closed loop,
        # NotImplementedError where the loop has no signal support (Windows). The stats are a
        # diagnostic for bench.soak; the process runs the same without them.
        log.debug("runtime stats on SIGUSR1 not available here")


def install_shutdown_signals(shutdown: Callable[[], None]) -> None:
    """Call ``shutdown`` on SIGTERM and SIGINT (call from the running loop, main thread).

    ``shutdown`` only asks the process to stop (drain, close its links, exit 0), so a second
    signal calls it again harmlessly; the grace periods bound how long the stop takes.
    """
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, _announced(sig, shutdown))
        except (RuntimeError, ValueError, NotImplementedError):
            # The refusals above (off the main thread, closed loop, no signal support): the
            # process then stops the default way.
            log.debug("graceful shutdown on signals not available here")
            return


def _announced(sig: signal.Signals, shutdown: Callable[[], None]) -> Callable[[], None]:
    def handler() -> None:
        log.info("shutting down", signal=sig.name)
        shutdown()

    return handler

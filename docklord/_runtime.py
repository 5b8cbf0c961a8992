"""Process signals: ``kill -USR1 PID`` logs asyncio tasks, RSS and open fds; SIGTERM and
SIGINT start a graceful shutdown.

The soak command (``bench/soak.py``) reads the figures to show that long runs leak nothing. A
signal and a log line need no endpoint, so nothing is exposed to the network.

With Python's own ``PYTHONTRACEMALLOC=N`` in the environment (N frames per allocation; the
interpreter starts tracing before the first import), SIGUSR1 also logs ``allocation growth``:
the source lines whose live allocations grew most since the previous SIGUSR1 (since start-up
the first time). Without it nothing is traced and the handler costs what it did.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import os
import signal
import sys
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import structlog

__all__ = [
    "AllocationGrowth",
    "install_shutdown_signals",
    "install_stats_signal",
    "runtime_stats",
]

log = structlog.get_logger(__name__)

#: Source lines listed per ``allocation growth`` line.
GROWTH_TOP = 15
#: tracemalloc's own bookkeeping and the import machinery are not the process's allocations.
_NOT_OURS = (
    tracemalloc.Filter(inclusive=False, filename_pattern=tracemalloc.__file__),
    tracemalloc.Filter(inclusive=False, filename_pattern="<frozen importlib._bootstrap*>"),
    tracemalloc.Filter(inclusive=False, filename_pattern="<unknown>"),
)


class AllocationGrowth:
    """Live allocations by source line, compared with the previous look (tracemalloc)."""

    def __init__(self) -> None:
        self._previous: tracemalloc.Snapshot | None = None
        #: Two signals in a row run two threads: each compares with the one before it.
        self._lock = threading.Lock()

    def top(self, limit: int = GROWTH_TOP) -> list[str]:
        """The ``limit`` lines that grew most since the last call (since start-up the first
        time), as ``file:line +KiB (+blocks) = KiB``; empty when nothing is traced."""
        if not tracemalloc.is_tracing():
            return []
        with self._lock:
            return self._top(limit)

    def _top(self, limit: int) -> list[str]:
        # Garbage in reference cycles waits for the collector: without this, what a request
        # left behind a moment ago would look like growth.
        gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces(_NOT_OURS)
        stats: list[tracemalloc.Statistic] | list[tracemalloc.StatisticDiff]
        if self._previous is None:
            stats = snapshot.statistics("lineno")
        else:
            stats = snapshot.compare_to(self._previous, "lineno")
        self._previous = snapshot
        return [_growth_line(stat) for stat in stats[:limit]]


def _growth_line(stat: tracemalloc.Statistic | tracemalloc.StatisticDiff) -> str:
    frame = stat.traceback[0]
    where = f"{frame.filename}:{frame.lineno}"
    if isinstance(stat, tracemalloc.StatisticDiff):
        return (
            f"{where} {stat.size_diff / 1024:+.1f} KiB ({stat.count_diff:+d} blocks)"
            f" = {stat.size / 1024:.1f} KiB"
        )
    return (
        f"{where} {stat.size / 1024:+.1f} KiB ({stat.count:+d} blocks) = {stat.size / 1024:.1f} KiB"
    )


def runtime_stats() -> dict[str, int]:
    """This process's asyncio tasks, resident memory (KiB), open file descriptors and heap."""
    rss = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    stats = {
        "tasks": len(asyncio.all_tasks()),
        "rss_kib": rss,
        "fds": len(os.listdir("/proc/self/fd")),
    }
    stats.update(_heap())
    if tracemalloc.is_tracing():
        stats["traced_kib"] = tracemalloc.get_traced_memory()[0] // 1024
    return stats


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _mallinfo2() -> Callable[[], _MallInfo2] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        call = libc.mallinfo2
    except (OSError, AttributeError, TypeError):
        return None  # not glibc 2.33+: the heap figures are left out
    call.restype = _MallInfo2
    call.argtypes = []
    return call


_MALLINFO = _mallinfo2()


def _heap() -> dict[str, int]:
    """Where RSS goes besides Python objects: Python's own blocks (``py_blocks``, a count)
    and C's malloc heap in use and held free (glibc), which tells objects that grow from
    memory the allocator keeps after they are gone (fragmentation)."""
    heap = {"py_blocks": sys.getallocatedblocks()}
    if _MALLINFO is not None:
        info = _MALLINFO()
        heap["malloc_used_kib"] = (info.uordblks + info.hblkhd) // 1024
        heap["malloc_free_kib"] = info.fordblks // 1024
    return heap


#: The diagnoses running (a reference, so they are not collected before they end).
_diagnoses: set[asyncio.Task[None]] = set()


def install_stats_signal() -> None:
    """Log ``runtime stats`` whenever the process gets SIGUSR1 (call from the running loop).

    Only a loop in the main thread can take signals; elsewhere (an embedded coordinator in a
    thread) this does nothing.
    """
    loop = asyncio.get_running_loop()
    growth = AllocationGrowth()
    try:
        loop.add_signal_handler(signal.SIGUSR1, _log_stats, growth)
    except (RuntimeError, ValueError, NotImplementedError):
        # asyncio's own refusals, none of them an error of ours: ValueError off the main
        # thread (the in-process fleets of the tests), RuntimeError on a closed loop,
        # NotImplementedError where the loop has no signal support (Windows). The stats are a
        # diagnostic for bench.soak; the process runs the same without them.
        log.debug("runtime stats on SIGUSR1 not available here")


def _log_stats(growth: AllocationGrowth) -> None:
    log.info("runtime stats", **runtime_stats())
    if tracemalloc.is_tracing():
        task = asyncio.create_task(_log_growth(growth), name="allocation growth")
        _diagnoses.add(task)
        task.add_done_callback(_diagnosed)


async def _log_growth(growth: AllocationGrowth) -> None:
    # Grouping some 10^5 traces by line is seconds of Python: on the loop it would stall the
    # process long enough for its links to time out. A thread shares the loop's time instead.
    log.info("allocation growth", top=await asyncio.to_thread(growth.top))


def _diagnosed(task: asyncio.Task[None]) -> None:
    _diagnoses.discard(task)
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("allocation growth failed", exc_info=exc)


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

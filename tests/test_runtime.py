from __future__ import annotations

import inspect
import tracemalloc
from collections.abc import Iterator

import pytest

from docklord._runtime import AllocationGrowth, runtime_stats


@pytest.fixture
def tracing() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def _line_above() -> int:
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno - 1


async def test_growth_names_the_line_that_allocated_since_the_last_look(tracing: None) -> None:
    growth = AllocationGrowth()
    assert growth.top()  # the first look: what is live since tracing started
    kept = [bytearray(1024) for _ in range(2000)]  # about 2 MiB, held until the next look
    line = f"{__file__}:{_line_above()}"
    top = growth.top()
    assert top[0].startswith(f"{line} +2"), top  # +2,0xx KiB: the 2,000 arrays
    assert "traced_kib" in runtime_stats()
    del kept
    assert growth.top()[0].startswith(f"{line} -2"), "what was freed shows as negative growth"


async def test_nothing_is_traced_or_logged_by_default() -> None:
    assert not tracemalloc.is_tracing()
    assert AllocationGrowth().top() == []
    stats = runtime_stats()
    assert "traced_kib" not in stats
    assert stats["py_blocks"] > 0
    assert stats["malloc_used_kib"] > 0  # glibc, as on every machine the soak runs on

"""The follow across restarts, against a fake engine that reads logs as Docker does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from docklord.errors import NotFound
from docklord.model import ContainerSummary, EngineEvent, LogChunk, split_stamp, stamp_seconds
from docklord.node._log_follow import LogEnd, follow_across_starts


def stamp(second: int, nano: int = 0) -> bytes:
    return b"2026-01-02T03:04:%02d.%09dZ" % (second, nano)


@dataclass
class FakeEngine:
    """Each follow pass returns what is logged so far (the container then stops); each wait
    for a start makes the next run's messages appear, until there are no runs left."""

    runs: list[list[tuple[bytes, str]]]
    logged: list[tuple[bytes, str, bytes]] = field(default_factory=list)
    passes: list[tuple[int | None, float | None]] = field(default_factory=list)
    removed: bool = False
    finished_at: float = 1.0

    def __post_init__(self) -> None:
        self._next_run()

    def _next_run(self) -> None:
        run = self.runs.pop(0)
        self.logged += [(s, "stdout", text.encode() + b"\n") for s, text in run]

    async def get_summary(self, ref: str) -> ContainerSummary:
        if self.removed:
            raise NotFound(f"no such container: {ref}")
        return ContainerSummary(
            id="c1", name="c", image="i", state="exited", finished_at=self.finished_at
        )

    async def logs(self, ref: str, **kwargs: object) -> AsyncIterator[LogChunk]:
        since, tail = kwargs["since"], kwargs["tail"]
        assert kwargs["timestamps"] is True and kwargs["follow"] is True
        assert since is None or isinstance(since, float)
        assert tail is None or isinstance(tail, int)
        self.passes.append((tail, since))
        # Docker's since is inclusive, at the timestamp's precision.
        chosen = [m for m in self.logged if since is None or stamp_seconds(m[0]) >= since]
        for s, stream, data in chosen if tail is None else chosen[len(chosen) - tail :]:
            yield LogChunk(stream, s + b" " + data)

    async def events(
        self, *, since: float | None = None, filters: Mapping[str, Sequence[str]] | None = None
    ) -> AsyncIterator[EngineEvent]:
        assert filters is not None and filters["container"] == ["c1"]
        await asyncio.sleep(0)
        if self.runs:
            self._next_run()
            yield EngineEvent("container", "start", "c1", {}, 0)
        else:
            self.removed = True
            yield EngineEvent("container", "destroy", "c1", {}, 0)


async def collect(engine: FakeEngine, **kwargs: object) -> list[LogChunk | LogEnd]:
    return [item async for item in follow_across_starts(engine, "c", **kwargs)]  # type: ignore[arg-type]


def texts(items: list[LogChunk | LogEnd]) -> list[str]:
    return [split_stamp(i.data)[1].decode().strip() for i in items if isinstance(i, LogChunk)]


async def test_lines_sharing_the_boundary_timestamp_come_exactly_once() -> None:
    # Two lines share the last timestamp of the first run, and the next run starts with a
    # third line of that very timestamp: the resumed read returns all three, two are skipped.
    engine = FakeEngine(
        [
            [(stamp(1), "1"), (stamp(2, 5), "2"), (stamp(2, 5), "3")],
            [(stamp(2, 5), "4"), (stamp(3), "5")],
            [(stamp(3), "6"), (stamp(3), "7"), (stamp(4), "8")],
        ]
    )
    items = await collect(engine)
    assert texts(items) == ["1", "2", "3", "4", "5", "6", "7", "8"]
    assert items[-1] == LogEnd("removed")
    # Each resumed read starts just before the last timestamp delivered (since is inclusive).
    assert [since for _, since in engine.passes[1:]] == [
        stamp_seconds(stamp(2, 5)) - 1e-6,
        stamp_seconds(stamp(3)) - 1e-6,
    ]


async def test_tail_applies_to_the_first_pass_only_and_timestamps_are_kept_when_asked() -> None:
    engine = FakeEngine([[(stamp(1), "1"), (stamp(2), "2"), (stamp(3), "3")], [(stamp(4), "4")]])
    items = await collect(engine, tail=1, timestamps=True)
    chunks = [i for i in items if isinstance(i, LogChunk)]
    assert [c.data for c in chunks] == [stamp(3) + b" 3\n", stamp(4) + b" 4\n"]
    assert [tail for tail, _ in engine.passes] == [1, None]


async def test_a_run_that_printed_nothing_resumes_after_its_stop_not_from_the_start() -> None:
    # tail=0 and a silent first run: the next pass reads from the stop time (finished_at), so
    # the old lines are not sent again.
    engine = FakeEngine(
        [[(stamp(1), "old")], [(stamp(5), "new")]], finished_at=stamp_seconds(stamp(3))
    )
    items = await collect(engine, tail=0)
    assert engine.passes[1] == (None, engine.finished_at)
    assert texts(items) == ["new"]
    assert items[-1] == LogEnd("removed")


async def test_timestamps_are_stripped_unless_asked() -> None:
    engine = FakeEngine([[(stamp(1), "a")]])
    items = await collect(engine)
    assert items == [LogChunk("stdout", b"a\n"), LogEnd("removed")]


async def test_an_unknown_container_is_not_found_at_once() -> None:
    engine = FakeEngine([[(stamp(1), "a")]])
    engine.removed = True
    with pytest.raises(NotFound):
        await collect(engine)


async def test_a_container_removed_during_a_pass_ends_the_follow_with_removed() -> None:
    # docker rm -f: the engine layer looks again, finds it running, and the read is a 404.
    class Vanishing(FakeEngine):
        async def logs(self, ref: str, **kwargs: object) -> AsyncIterator[LogChunk]:
            yield LogChunk("stdout", stamp(1) + b" a\n")
            raise NotFound("no such container: c1")

    items = await collect(Vanishing([[]]))
    assert items == [LogChunk("stdout", b"a\n"), LogEnd("removed")]

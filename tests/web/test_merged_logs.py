"""The merge's reorder window and line parsing, without nodes or an engine."""

from __future__ import annotations

from collections.abc import AsyncIterator

from docklord.web._merged_logs import Line, Reorder, Source, _merge_sorted, split_line

SOURCE = Source("n1", "n1/c", "c")


def line(stamp: str, seq: int) -> Line:
    return Line(f"2026-01-02T03:04:{stamp}Z", seq, SOURCE, "stdout", f"line {seq}")


def texts(lines: list[Line]) -> list[str]:
    return [entry.text for entry in lines]


def test_a_line_waits_the_window_for_earlier_lines_from_slower_nodes() -> None:
    reorder = Reorder(window=0.25)
    reorder.push(line("05.000000002", 1), now=10.0)
    assert reorder.due(10.1) == []
    wait = reorder.wait(10.1)
    assert wait is not None and abs(wait - 0.15) < 1e-9
    reorder.push(line("05.000000001", 2), now=10.2)  # earlier time, later arrival
    assert texts(reorder.due(10.25)) == ["line 2", "line 1"]
    assert len(reorder) == 0 and reorder.wait(10.3) is None


def test_no_line_waits_longer_than_the_window() -> None:
    # The held line's wait ends at 10.25, even though an earlier line came at 10.2 (whose own
    # wait would end at 10.45): both go out, in order, at 10.25.
    reorder = Reorder(window=0.25)
    reorder.push(line("06.0", 1), now=10.0)
    reorder.push(line("05.0", 2), now=10.2)
    reorder.push(line("07.0", 3), now=10.2)
    assert texts(reorder.due(10.25)) == ["line 2", "line 1"]
    assert texts(reorder.due(10.45)) == ["line 3"]


def test_a_line_later_than_the_window_goes_out_when_it_comes() -> None:
    reorder = Reorder(window=0.25)
    reorder.push(line("06.0", 1), now=10.0)
    assert texts(reorder.due(10.3)) == ["line 1"]
    reorder.push(line("05.0", 2), now=10.4)
    assert texts(reorder.due(10.65)) == ["line 2"]


def test_the_held_lines_are_bounded() -> None:
    reorder = Reorder(window=10.0, limit=2)
    for seq, stamp in enumerate(("03.0", "01.0", "02.0"), start=1):
        reorder.push(line(stamp, seq), now=0.0)
    assert texts(reorder.due(0.0)) == ["line 2"]
    assert texts(reorder.drain()) == ["line 3", "line 1"]


def test_equal_timestamps_keep_the_order_they_came_in() -> None:
    reorder = Reorder(window=0.25)
    for seq in (1, 2, 3):
        reorder.push(line("05.0", seq), now=0.0)
    assert texts(reorder.drain()) == ["line 1", "line 2", "line 3"]


def test_split_line_takes_the_engine_timestamp_off() -> None:
    stamp = "2026-01-02T03:04:05.123456789Z"
    assert split_line(f"{stamp} hello world") == (stamp, "hello world")
    assert split_line(f"{stamp} ") == (stamp, "")
    assert split_line("no timestamp here, just a line of text") == (
        "",
        "no timestamp here, just a line of text",
    )


async def test_the_tails_are_merged_by_time_each_stream_in_its_order() -> None:
    async def stream(stamps: list[str], seq: int) -> AsyncIterator[Line]:
        for offset, stamp in enumerate(stamps):
            yield line(stamp, seq + offset)

    a = stream(["01.0", "03.0", "05.0"], 1)
    b = stream(["02.0", "02.0", "06.0"], 10)
    batches = [batch async for batch in _merge_sorted([a, b, stream([], 20)])]
    assert [e["line"] for batch in batches for e in batch] == [
        f"line {n}" for n in (1, 10, 11, 2, 3, 12)
    ]

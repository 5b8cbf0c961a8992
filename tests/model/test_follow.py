"""Resuming a log follow after the engine ended it early: each message exactly once."""

from __future__ import annotations

from docklord.model import Resume, split_stamp, stamp_seconds

T1 = b"2026-12-01T20:00:00.000000001Z"
T2 = b"2026-12-01T20:00:00.000000002Z"


def test_split_and_read_a_stamp() -> None:
    assert split_stamp(T1 + b" hello\n") == (T1, b"hello\n")
    assert split_stamp(b"no stamp here, just a line long enough\n")[0] == b""
    assert stamp_seconds(b"1970-01-01T00:00:01.500000000Z") == 1.5


def test_messages_sharing_the_boundary_stamp_are_skipped_by_count() -> None:
    resume = Resume()
    first = [T1, T2, T2]  # the engine ended the stream after these
    assert [resume.take(s) for s in first] == [True, True, True]
    since = resume.since()
    assert since is not None and since < stamp_seconds(T2)
    resume.restart()
    # The resumed read starts a little earlier: T1 again, both T2 again, then a third T2.
    again = [T1, T2, T2, T2, b"2026-12-01T20:00:01.000000000Z"]
    assert [resume.take(s) for s in again] == [False, False, False, True, True]


def test_a_second_early_end_on_the_same_stamp() -> None:
    resume = Resume()
    assert resume.take(T2)
    resume.restart()
    assert [resume.take(s) for s in (T2, T2)] == [False, True]
    resume.restart()
    assert [resume.take(s) for s in (T2, T2, T2)] == [False, False, True]

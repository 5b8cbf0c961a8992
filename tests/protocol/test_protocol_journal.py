"""The event journal both ends use to catch a peer up: what follows a seq, or a gap."""

from __future__ import annotations

from docklord.protocol import Event, EventJournal

BASE = 1_000


def _journal(size: int, first: int, last: int) -> EventJournal:
    journal = EventJournal(size)
    for seq in range(first, last + 1):
        event = Event(seq=seq, type="container", action="start", actor_id=f"c{seq}")
        event.container.labels["seq"] = str(seq)
        journal.append(event)
    return journal


def test_the_events_after_a_seq_come_back_whole_and_in_order() -> None:
    journal = _journal(100, BASE + 1, BASE + 10)
    events = journal.after(BASE + 7, base_seq=BASE, last_seq=BASE + 10)
    assert events is not None
    assert [e.seq for e in events] == [BASE + 8, BASE + 9, BASE + 10]
    assert [e.container.labels["seq"] for e in events] == ["1008", "1009", "1010"]
    assert journal.after(BASE, base_seq=BASE, last_seq=BASE + 10) is not None
    assert len(journal.after(BASE, base_seq=BASE, last_seq=BASE + 10) or []) == 10


def test_caught_up_is_empty_and_a_gap_is_none() -> None:
    journal = _journal(5, BASE + 1, BASE + 10)  # keeps 1006..1010
    assert len(journal) == 5
    assert journal.after(BASE + 10, base_seq=BASE, last_seq=BASE + 10) == []
    # 1005 is the last one given up: what follows it is all kept.
    assert [e.seq for e in journal.after(BASE + 5, base_seq=BASE, last_seq=BASE + 10) or []] == [
        1006,
        1007,
        1008,
        1009,
        1010,
    ]
    # 1004 would need 1005, which is gone.
    assert journal.after(BASE + 4, base_seq=BASE, last_seq=BASE + 10) is None
    # From another numbering (before the node's start), or from the future: a snapshot.
    assert journal.after(BASE - 1, base_seq=BASE, last_seq=BASE + 10) is None
    assert journal.after(BASE + 11, base_seq=BASE, last_seq=BASE + 10) is None


def test_an_empty_journal_covers_only_the_present() -> None:
    journal = EventJournal(10)
    assert journal.after(BASE, base_seq=BASE, last_seq=BASE) == []
    assert journal.after(BASE - 3, base_seq=BASE, last_seq=BASE + 2) is None
    assert journal.last(3) == []


def test_last_and_replace() -> None:
    journal = _journal(100, BASE + 1, BASE + 10)
    assert [e.seq for e in journal.last(3)] == [BASE + 8, BASE + 9, BASE + 10]
    assert len(journal.last(50)) == 10
    journal.replace(_journal(100, 5, 6).last(10))
    assert [e.seq for e in journal.last(10)] == [5, 6]


def test_what_it_gives_is_a_copy() -> None:
    """Callers (the snapshot sender, the clients' catch-up) may change what they get."""
    journal = _journal(10, BASE + 1, BASE + 2)
    first = journal.last(1)[0]
    first.container.labels["seq"] = "changed"
    assert journal.last(1)[0].container.labels["seq"] == "1002"

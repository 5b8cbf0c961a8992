"""One node's recent events, numbered by seq: the journal that catches a peer up after a gap.

The node keeps one to catch the coordinator up after a relink, and the coordinator keeps one
per node to catch its clients up after a dropped socket (``since_seq``). Both answer the same
question the same way: which events follow ``seq``, or is there a gap that only a full
snapshot can fill.

The events are kept in their wire form. A parsed ``Event`` with its container summary takes
about 3 KB in upb's arenas, its wire form about 0.5 KB: a full journal of 10,000 events is
28 MiB parsed and under 6 MiB serialized, and a process keeps one per node. The journal is
read only to catch up, where parsing the events again costs microseconds each.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from docklord.protocol.docklord_pb2 import Event

__all__ = ["EventJournal"]


class EventJournal:
    """The last ``size`` events, oldest first, each stored serialized with its seq."""

    __slots__ = ("_entries",)

    def __init__(self, size: int) -> None:
        self._entries: deque[tuple[int, bytes]] = deque(maxlen=size)

    def __len__(self) -> int:
        return len(self._entries)

    def append(self, event: Event) -> None:
        self._entries.append((event.seq, event.SerializeToString()))

    def replace(self, events: Iterable[Event]) -> None:
        """Drop what is kept and keep ``events`` instead (a snapshot's journal)."""
        self._entries.clear()
        for event in events:
            self.append(event)

    def after(self, seq: int, *, base_seq: int, last_seq: int) -> list[Event] | None:
        """The events after ``seq``, or ``None`` when they cannot all be given.

        ``base_seq`` is where the node's numbering started (its start time) and ``last_seq``
        the newest seq applied. ``None`` means a snapshot is needed: ``seq`` is from before
        this numbering, newer than anything seen, or older than the oldest event kept.
        """
        if seq > last_seq or seq < base_seq:
            return None
        if seq == last_seq:
            return []
        oldest = self._entries[0][0] if self._entries else last_seq + 1
        if oldest > seq + 1:
            return None
        # Peers resume close to the end: walk back from the newest instead of over all of it.
        newer: list[bytes] = []
        for entry_seq, data in reversed(self._entries):
            if entry_seq <= seq:
                break
            newer.append(data)
        return [Event.FromString(data) for data in reversed(newer)]

    def last(self, count: int) -> list[Event]:
        """The newest ``count`` events, oldest first."""
        start = max(0, len(self._entries) - count)
        return [Event.FromString(data) for _, data in list(self._entries)[start:]]

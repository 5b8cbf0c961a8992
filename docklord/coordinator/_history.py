"""Resource history: a bounded ring buffer per container and per node, fed by ``StatsBatch``.

Samples are packed into one ``bytearray`` per container (80 bytes a sample) rather than kept
as objects: a Python object per sample costs about 400 bytes, which for the default hour at
5 s (720 samples) would be 290 MB per 1,000 containers instead of 58 MB. A buffer grows as
samples come, so a short-lived container costs only what it recorded.

A container's history goes when the container is removed; a node's when the node is deleted.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Container, Iterator
from dataclasses import dataclass, field

from docklord.model import StatsSample
from docklord.protocol import docklord_pb2 as pb
from docklord.protocol import stats_from_proto

__all__ = ["History", "NodeSample", "Ring"]

#: read, cpu%, cpu time, memory usage/total/limit, net rx/tx, block read/write, pids.
_SAMPLE = struct.Struct("<dfdQQQQQQQI")
#: time, cpu% summed over containers, memory usage summed, running, sampled.
_NODE = struct.Struct("<ddQII")
#: Rings never hold more than this many entries, whatever retention/interval say.
MAX_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class NodeSample:
    """A node's aggregate at one batch: the sums over its sampled containers."""

    time: float
    cpu_percent: float
    memory_usage: int
    containers_running: int
    containers_sampled: int


class Ring:
    """Fixed-size records in a ``bytearray`` that grows up to ``capacity`` and then wraps."""

    __slots__ = ("_buf", "_capacity", "_count", "_next", "_record")

    def __init__(self, record: struct.Struct, capacity: int) -> None:
        self._record = record
        self._capacity = max(1, min(capacity, MAX_ENTRIES))
        self._buf = bytearray()
        self._next = 0
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        """Bytes held by the buffer."""
        return len(self._buf)

    def append(self, *values: float | int) -> None:
        """Add a record, overwriting the oldest when full."""
        size = self._record.size
        if self._count < self._capacity:
            self._buf += self._record.pack(*values)
            self._count += 1
            return
        self._record.pack_into(self._buf, self._next * size, *values)
        self._next = (self._next + 1) % self._capacity

    def __iter__(self) -> Iterator[tuple[float | int, ...]]:
        """Records oldest first."""
        size = self._record.size
        for i in range(self._count):
            slot = (self._next + i) % self._count if self._count == self._capacity else i
            yield self._record.unpack_from(self._buf, slot * size)


def _unpack(record: tuple[float | int, ...]) -> StatsSample:
    read, cpu, cpu_time, usage, total, limit, rx, tx, br, bw, pids = record
    return StatsSample(
        read=float(read),
        cpu_percent=float(cpu),
        memory_usage=int(usage),
        memory_limit=int(limit),
        memory_percent=int(usage) / int(limit) * 100.0 if limit else 0.0,
        net_rx=int(rx),
        net_tx=int(tx),
        block_read=int(br),
        block_write=int(bw),
        pids=int(pids),
        cpu_time=float(cpu_time),
        memory_total_usage=int(total),
    )


@dataclass(eq=False)
class _NodeHistory:
    interval: float
    capacity: int
    aggregate: Ring
    rings: dict[str, Ring] = field(default_factory=dict)
    #: The containers of the newest batch and their samples: what is "current".
    current: dict[str, pb.ContainerStats] = field(default_factory=dict)
    batch_time: float = 0.0


class History:
    """Every node's sample history, bounded by ``retention`` seconds at the node's interval."""

    def __init__(self, retention: float = 3600.0) -> None:
        self.retention = retention
        self._nodes: dict[str, _NodeHistory] = {}

    def apply(
        self,
        node_id: str,
        batch: pb.StatsBatch,
        running: int,
        known: Container[str] | None = None,
    ) -> None:
        """Record one node's batch; ``running`` is how many containers the node runs.

        With ``known`` (the node's containers in the fleet cache), samples of other ids are
        ignored: a node cannot make the coordinator keep history for containers it never
        reported. Samples with non-finite numbers are ignored too.
        """
        if not math.isfinite(batch.time):
            return
        node = self._node(node_id, batch.interval)
        current: dict[str, pb.ContainerStats] = {}
        cpu = 0.0
        memory = 0
        rings = node.rings
        for m in batch.containers:
            if (known is not None and m.id not in known) or not _finite(m):
                continue
            # Packed straight from the message: this runs for every sample of the fleet.
            current[m.id] = m
            ring = rings.get(m.id)
            if ring is None:
                ring = rings[m.id] = Ring(_SAMPLE, node.capacity)
            ring.append(
                m.read,
                m.cpu_percent,
                m.cpu_time,
                m.memory_usage,
                m.memory_total_usage,
                m.memory_limit,
                m.net_rx,
                m.net_tx,
                m.block_read,
                m.block_write,
                m.pids,
            )
            cpu += m.cpu_percent
            memory += m.memory_usage
        node.current, node.batch_time = current, batch.time
        node.aggregate.append(batch.time, cpu, memory, running, len(current))

    def _node(self, node_id: str, interval: float) -> _NodeHistory:
        node = self._nodes.get(node_id)
        # A node's interval is 1 s to 1 h (NodeConfig); anything else is clamped, so that no
        # node can make a ring larger than an hour at one a second.
        interval = min(max(interval, 1.0), 3600.0) if math.isfinite(interval) else 5.0
        if node is None or not math.isclose(node.interval, interval):
            # A node that changed its interval starts over: the rings' size depends on it.
            capacity = math.ceil(self.retention / interval)
            node = _NodeHistory(interval, capacity, Ring(_NODE, capacity))
            self._nodes[node_id] = node
        return node

    def current(self, node_id: str, container_id: str) -> StatsSample | None:
        """The container's sample of the node's newest batch (``None``: not sampled now)."""
        node = self._nodes.get(node_id)
        msg = node.current.get(container_id) if node is not None else None
        return stats_from_proto(msg)[1] if msg is not None else None

    def current_of(self, node_id: str) -> tuple[float, dict[str, StatsSample]]:
        """The node's newest batch time and samples."""
        node = self._nodes.get(node_id)
        if node is None:
            return 0.0, {}
        return node.batch_time, {cid: stats_from_proto(m)[1] for cid, m in node.current.items()}

    def interval(self, node_id: str) -> float | None:
        """The node's sampling interval, if it sent samples."""
        node = self._nodes.get(node_id)
        return node.interval if node is not None else None

    def samples(self, node_id: str, container_id: str, since: float = 0.0) -> list[StatsSample]:
        """The container's samples taken after ``since``, oldest first."""
        node = self._nodes.get(node_id)
        ring = node.rings.get(container_id) if node is not None else None
        if ring is None:
            return []
        return [s for s in map(_unpack, ring) if s.read > since]

    def node_samples(self, node_id: str, since: float = 0.0) -> list[NodeSample]:
        """The node's aggregates after ``since``, oldest first."""
        node = self._nodes.get(node_id)
        if node is None or node.aggregate is None:
            return []
        out = (
            NodeSample(float(t), float(c), int(m), int(r), int(n))
            for t, c, m, r, n in node.aggregate
        )
        return [s for s in out if s.time > since]

    def forget_container(self, node_id: str, container_id: str) -> None:
        """Drop a removed container's history."""
        node = self._nodes.get(node_id)
        if node is not None:
            node.rings.pop(container_id, None)
            node.current.pop(container_id, None)

    def forget_node(self, node_id: str) -> None:
        """Drop a deleted node's history."""
        self._nodes.pop(node_id, None)

    def clear_current(self, node_id: str) -> None:
        """The node went offline: nothing of it is current any more (its history stays)."""
        node = self._nodes.get(node_id)
        if node is not None:
            node.current = {}

    @property
    def nbytes(self) -> int:
        """Bytes held by every ring (the buffers only)."""
        total = 0
        for node in self._nodes.values():
            total += sum(ring.nbytes for ring in node.rings.values())
            total += node.aggregate.nbytes
        return total


def _finite(m: pb.ContainerStats) -> bool:
    return math.isfinite(m.read) and math.isfinite(m.cpu_percent) and math.isfinite(m.cpu_time)

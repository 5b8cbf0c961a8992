"""Resource samples on the wire: ``StatsSample`` <-> ``ContainerStats``.

Kept apart from ``_convert`` (containers, events, errors) because samples travel on their own
frame (``StatsBatch``), once per sampling interval.
"""

from __future__ import annotations

from collections.abc import Iterable

from docklord import model as domain
from docklord.protocol import docklord_pb2 as pb

__all__ = ["stats_batch_to_proto", "stats_from_proto", "stats_to_proto"]


def stats_to_proto(container_id: str, sample: domain.StatsSample) -> pb.ContainerStats:
    """One container's sample as the wire message."""
    return pb.ContainerStats(
        id=container_id,
        read=sample.read,
        cpu_percent=sample.cpu_percent,
        cpu_time=sample.cpu_time,
        memory_usage=max(sample.memory_usage, 0),
        memory_total_usage=max(sample.memory_total_usage, 0),
        memory_limit=max(sample.memory_limit, 0),
        net_rx=max(sample.net_rx, 0),
        net_tx=max(sample.net_tx, 0),
        block_read=max(sample.block_read, 0),
        block_write=max(sample.block_write, 0),
        pids=max(sample.pids, 0),
    )


def stats_from_proto(msg: pb.ContainerStats) -> tuple[str, domain.StatsSample]:
    """The container id and its sample; ``memory_percent`` is recomputed from the two sizes."""
    limit = msg.memory_limit
    return msg.id, domain.StatsSample(
        read=msg.read,
        cpu_percent=msg.cpu_percent,
        memory_usage=msg.memory_usage,
        memory_limit=limit,
        memory_percent=msg.memory_usage / limit * 100.0 if limit else 0.0,
        net_rx=msg.net_rx,
        net_tx=msg.net_tx,
        block_read=msg.block_read,
        block_write=msg.block_write,
        pids=msg.pids,
        cpu_time=msg.cpu_time,
        memory_total_usage=msg.memory_total_usage,
    )


def stats_batch_to_proto(
    time: float, interval: float, samples: Iterable[tuple[str, domain.StatsSample]]
) -> pb.StatsBatch:
    """One interval's samples as one frame."""
    return pb.StatsBatch(
        time=time,
        interval=interval,
        containers=[stats_to_proto(cid, s) for cid, s in samples],
    )

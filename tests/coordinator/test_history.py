"""The coordinator's stats history: bounded rings, node aggregates, what is current."""

from __future__ import annotations

import math

import pytest

from docklord.config import NodeConfig
from docklord.coordinator import History
from docklord.errors import ConfigError
from docklord.model import StatsSample
from docklord.protocol import stats_batch_to_proto

CID = "c" * 64


def sample(read: float, cpu: float = 10.0, memory: int = 1000) -> StatsSample:
    return StatsSample(
        read=read,
        cpu_percent=cpu,
        memory_usage=memory,
        memory_limit=4000,
        memory_percent=memory / 4000 * 100,
        net_rx=5,
        net_tx=6,
        block_read=7,
        block_write=8,
        pids=2,
        cpu_time=read / 10,
        memory_total_usage=memory + 100,
    )


def feed(history: History, node: str, reads: range, interval: float = 5.0) -> None:
    for t in reads:
        batch = stats_batch_to_proto(float(t), interval, [(CID, sample(float(t)))])
        history.apply(node, batch, running=1)


def test_a_ring_keeps_the_newest_retention_over_interval_samples_oldest_first() -> None:
    history = History(retention=50.0)  # 10 samples at 5 s
    feed(history, "n1", range(1, 26))
    kept = history.samples("n1", CID)
    assert [s.read for s in kept] == [float(t) for t in range(16, 26)]
    assert kept[-1] == sample(25.0)  # every field survives the packing
    assert [s.read for s in history.samples("n1", CID, since=22.0)] == [23.0, 24.0, 25.0]


def test_node_aggregates_sum_the_batch_and_count_containers() -> None:
    history = History()
    batch = stats_batch_to_proto(
        100.0, 5.0, [(CID, sample(100.0, 30.0, 1000)), ("d" * 64, sample(100.0, 45.5, 24))]
    )
    history.apply("n1", batch, running=3)
    [aggregate] = history.node_samples("n1")
    assert (aggregate.time, aggregate.cpu_percent, aggregate.memory_usage) == (100.0, 75.5, 1024)
    assert (aggregate.containers_running, aggregate.containers_sampled) == (3, 2)
    assert history.interval("n1") == 5.0


def test_current_is_the_newest_batch_and_goes_when_the_node_goes_offline() -> None:
    history = History()
    feed(history, "n1", range(1, 3))
    assert history.current("n1", CID) == sample(2.0)
    history.apply("n1", stats_batch_to_proto(3.0, 5.0, []), running=0)
    assert history.current("n1", CID) is None  # stopped: not in the newest batch
    assert len(history.samples("n1", CID)) == 2  # its history stays
    feed(history, "n1", range(4, 5))
    history.clear_current("n1")
    assert history.current("n1", CID) is None
    history.forget_container("n1", CID)
    assert history.samples("n1", CID) == []
    history.forget_node("n1")
    assert history.node_samples("n1") == [] and history.interval("n1") is None


def test_memory_per_1000_containers_for_an_hour_at_5_s() -> None:
    history = History(retention=3600.0)
    ids = [f"{i:064d}" for i in range(100)]
    batch = stats_batch_to_proto(1.0, 5.0, [(cid, sample(1.0)) for cid in ids])
    for _ in range(730):  # more than 720: the rings are full and wrapped
        history.apply("n1", batch, running=100)
    assert {len(history.samples("n1", cid)) for cid in ids[:3]} == {720}
    # 80 bytes a sample, 720 samples: 57.6 MB per 1,000 containers (+ one node aggregate ring).
    assert history.nbytes == 100 * 720 * 80 + 720 * 32


def test_a_nodes_bad_batch_cannot_grow_or_poison_the_history() -> None:
    history = History(retention=3600.0)
    good, stranger, broken = CID, "e" * 64, "f" * 64
    samples = [(good, sample(1.0)), (stranger, sample(1.0)), (broken, sample(math.nan))]
    # An interval of a millisecond would make 3.6 million-entry rings; it is clamped to 1 s.
    for t in range(4000):
        batch = stats_batch_to_proto(float(t), 0.001, samples)
        history.apply("n1", batch, running=3, known={good, broken})
    assert history.samples("n1", stranger) == []  # not a container the node reported
    assert history.samples("n1", broken) == []  # non-finite numbers are dropped
    assert len(history.samples("n1", good)) == 3600 and history.interval("n1") == 1.0
    history.apply("n1", stats_batch_to_proto(math.inf, 5.0, samples), running=3)
    assert history.interval("n1") == 1.0  # a batch with no real time is ignored whole


@pytest.mark.parametrize("value", [-1.0, 0.5, 3601.0])
def test_stats_interval_is_off_or_one_second_to_an_hour(value: float) -> None:
    assert NodeConfig(stats_interval=0).stats_interval == 0
    with pytest.raises(ConfigError, match="stats_interval"):
        NodeConfig(stats_interval=value)

"""The coordinator's own Prometheus series, and the per-container series of the whole fleet.

Everything here reads memory only (the fleet cache and the stats history): a scrape never
calls a node. Per-container series use cAdvisor's names where cAdvisor has one, so existing
dashboards and queries work on them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from docklord.coordinator._fleet import Fleet, NodeState, NodeStatus, Subscriber
from docklord.model import ContainerSummary, StatsSample
from docklord.protocol import docklord_pb2 as pb

__all__ = ["FleetSeries", "Telemetry"]

Family = GaugeMetricFamily | CounterMetricFamily

#: Label names of every per-container series.
CONTAINER_LABELS = (
    "node",
    "node_name",
    "id",
    "name",
    "image",
    "compose_project",
    "compose_service",
)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30)


class Telemetry:
    """Counters and histograms the coordinator updates as things happen."""

    def __init__(self, fleet: Fleet, registry: CollectorRegistry) -> None:
        self.fleet = fleet
        self.requests = Histogram(
            "docklord_node_request_duration_seconds",
            "Requests to nodes, by method, from send to answer (errors included)",
            ["method"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.event_lag = Histogram(
            "docklord_event_lag_seconds",
            "From the engine's event time to the fan-out to subscribers (catch-up included)",
            buckets=_LAG_BUCKETS,
            registry=registry,
        )
        self.events = Counter(
            "docklord_events", "Node events applied to the fleet cache", registry=registry
        )
        registry.register(_LinkCollector(fleet))
        fleet.event_observers.append(self._on_event)

    @contextmanager
    def timing(self, method: str) -> Iterator[None]:
        """Time one request to a node."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.requests.labels(method).observe(time.perf_counter() - started)

    def _on_event(self, node_id: str, event: pb.Event, previous: ContainerSummary | None) -> None:
        self.events.inc()
        if event.time_nano:
            self.event_lag.observe(max(time.time() - event.time_nano / 1e9, 0.0))


class _LinkCollector(Collector):
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    def collect(self) -> Iterator[Metric]:
        pending = GaugeMetricFamily(
            "docklord_pending_requests", "Requests to the node awaiting an answer", labels=["node"]
        )
        rtt = GaugeMetricFamily(
            "docklord_link_rtt_seconds",
            "Round trip of the newest link ping answered by the node",
            labels=["node"],
        )
        for state in self.fleet.nodes.values():
            if state.session is not None:
                pending.add_metric([state.node_id], state.session.pending_requests)
                if state.session.rtt is not None:
                    rtt.add_metric([state.node_id], state.session.rtt)
        yield pending
        yield rtt
        yield CounterMetricFamily(
            "docklord_subscriber_overflows",
            "Event subscribers closed because they fell too far behind",
            value=Subscriber.overflow_total,
        )
        history = GaugeMetricFamily(
            "docklord_stats_history_bytes", "Bytes held by the stats history ring buffers"
        )
        history.add_metric([], self.fleet.history.nbytes)
        yield history


class FleetSeries:
    """The per-container series of the nodes one caller may see (built per scrape)."""

    def __init__(
        self,
        fleet: Fleet,
        nodes: Iterable[str],
        visible: Callable[[ContainerSummary], bool] | None = None,
    ):
        self.fleet = fleet
        self.nodes = list(nodes)
        self.visible = visible

    def collect(self) -> Iterator[Metric]:
        """Every family, filled from the fleet cache and the newest stats batch of each node."""
        families = _families()
        for node_id in self.nodes:
            state = self.fleet.nodes.get(node_id)
            if state is None or state.status is NodeStatus.OFFLINE:
                continue
            batch_time, current = self.fleet.history.current_of(node_id)
            for summary in state.containers.values():
                if self.visible is not None and not self.visible(summary):
                    continue
                labels = _labels(state, summary)
                self._container(families, labels, summary, current.get(summary.id), batch_time)
        yield from families.values()

    def _container(
        self,
        f: dict[str, Family],
        labels: list[str],
        summary: ContainerSummary,
        sample: StatsSample | None,
        batch_time: float,
    ) -> None:
        f["state"].add_metric([*labels, summary.state], 1)
        f["restarts"].add_metric(labels, summary.restart_count)
        if summary.started_at and summary.state == "running":
            f["start"].add_metric(labels, summary.started_at)
        if sample is None:
            return
        for key, value in (
            ("cpu", sample.cpu_time),
            ("cpu_percent", sample.cpu_percent),
            ("mem", sample.memory_total_usage),
            ("ws", sample.memory_usage),
            ("limit", sample.memory_limit),
            ("rx", sample.net_rx),
            ("tx", sample.net_tx),
            ("reads", sample.block_read),
            ("writes", sample.block_write),
            ("pids", sample.pids),
            ("seen", batch_time),
        ):
            f[key].add_metric(labels, value)


def _families() -> dict[str, Family]:
    c, g, labels = CounterMetricFamily, GaugeMetricFamily, list(CONTAINER_LABELS)
    return {
        "cpu": c("container_cpu_usage_seconds", "Cumulative CPU time consumed", labels=labels),
        "cpu_percent": g(
            "docklord_container_cpu_percent",
            "CPU use as docker stats shows it (100 = one core)",
            labels=labels,
        ),
        "mem": g(
            "container_memory_usage_bytes", "Memory usage, page cache included", labels=labels
        ),
        "ws": g(
            "container_memory_working_set_bytes",
            "Memory usage without inactive page cache (docker stats' MEM USAGE)",
            labels=labels,
        ),
        "limit": g("container_spec_memory_limit_bytes", "Memory limit", labels=labels),
        "rx": c("container_network_receive_bytes", "Bytes received", labels=labels),
        "tx": c("container_network_transmit_bytes", "Bytes transmitted", labels=labels),
        "reads": c("container_fs_reads_bytes", "Bytes read from block devices", labels=labels),
        "writes": c("container_fs_writes_bytes", "Bytes written to block devices", labels=labels),
        "pids": g("docklord_container_pids", "Processes in the container", labels=labels),
        "seen": g("container_last_seen", "When the container was last sampled", labels=labels),
        "start": g("container_start_time_seconds", "When the container started", labels=labels),
        "state": g(
            "docklord_container_state",
            "1 for the container's current state",
            labels=[*labels, "state"],
        ),
        "restarts": c(
            "docklord_container_restarts",
            "Restarts of the container by its restart policy: the engine's RestartCount (a start "
            "by hand resets it)",
            labels=labels,
        ),
    }


def _labels(state: NodeState, c: ContainerSummary) -> list[str]:
    return [
        state.node_id,
        state.name or state.hostname or state.node_id,
        c.id,
        c.name,
        c.image,
        c.labels.get("com.docker.compose.project", ""),
        c.labels.get("com.docker.compose.service", ""),
    ]

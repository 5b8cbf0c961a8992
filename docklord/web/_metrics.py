"""``/metrics``: the Prometheus text format, from memory only (a scrape never calls a node).

By default a scrape needs credentials with at least the viewer role (Prometheus sends a token
as ``Authorization: Bearer ...``); a caller with node grants sees only those nodes' containers.
``--metrics-public`` serves it to anyone.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from docklord.coordinator import Coordinator, FleetSeries
from docklord.model import ContainerSummary
from docklord.web._auth import Role, auth_state, authorize
from docklord.web._container_policy import is_instance
from docklord.web._deps import coordinator_of

__all__ = ["router", "stream_kind"]

router = APIRouter()

_KINDS = ("logs", "stats", "exec", "events", "docker", "observe-containers", "ws")


def stream_kind(path: str) -> str:
    """The kind of a WebSocket stream from its path (``.../logs/ws`` is ``logs``)."""
    parts = [p for p in path.split("/") if p]
    for part in reversed(parts[:-1] if parts and parts[-1] == "ws" else parts):
        if part in _KINDS:
            return part
    return parts[-1] if parts else "other"


class _Scrape:
    """What one scrape shows: the coordinator's registry plus the fleet series it may see."""

    def __init__(self, request: Request, nodes: list[str], admin: bool) -> None:
        self.request = request
        self.coordinator: Coordinator = coordinator_of(request)
        self.nodes = nodes
        self.admin = admin

    def _visible(self, summary: ContainerSummary) -> bool:
        # Users' instances are reachable only through /api/v1/instances (SECURITY.md).
        return self.admin or not is_instance(summary.labels, summary.name)

    def collect(self) -> Iterator[Metric]:
        yield from self.coordinator.metrics.collect()
        yield self._websockets()
        series = FleetSeries(self.coordinator.fleet, self.nodes, self._visible)
        yield from series.collect()

    def _websockets(self) -> Metric:
        counts: dict[str, int] = {}
        for live in auth_state(self.request.app).sockets.connections():
            if live.ws is not None:
                kind = stream_kind(live.ws.scope.get("path", ""))
                counts[kind] = counts.get(kind, 0) + 1
        family = GaugeMetricFamily(
            "docklord_websocket_clients", "Live WebSocket clients, by stream kind", labels=["kind"]
        )
        for kind, n in sorted(counts.items()):
            family.add_metric([kind], n)
        return family


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: the coordinator's own series and every visible container's."""
    coordinator: Coordinator = coordinator_of(request)
    nodes = list(coordinator.fleet.nodes)
    admin = False
    if not coordinator.config.metrics_public:
        principal = await authorize(request, Role.VIEWER)
        nodes = [n for n in nodes if principal.may_see(n)]
        admin = principal.role >= Role.ADMIN
    body = generate_latest(_Scrape(request, nodes, admin))
    return Response(body, media_type=CONTENT_TYPE_LATEST)

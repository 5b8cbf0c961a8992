from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

import structlog

from docklord.coordinator._history import History
from docklord.coordinator._json import container_json, event_json, iso
from docklord.coordinator._refs import resolve_ref
from docklord.errors import NodeOffline, NotFound
from docklord.link import LinkSession
from docklord.model import ContainerSummary, EngineInfo
from docklord.protocol import EventJournal, engine_info_from_proto, summary_from_proto
from docklord.protocol import docklord_pb2 as pb
from docklord.store import NodeRecord

__all__ = [
    "EventObserver",
    "Fleet",
    "NodeState",
    "NodeStatus",
    "StatsObserver",
    "StatusObserver",
    "Subscriber",
]

log = structlog.get_logger(__name__)

JOURNAL_SIZE = 10_000
SUBSCRIBER_QUEUE = 10_000

#: Told of every applied container event: node id, the event, the container before it.
EventObserver = Callable[[str, "pb.Event", "ContainerSummary | None"], None]
#: Told of every stats batch after the history recorded it: node id, the batch.
StatsObserver = Callable[[str, "pb.StatsBatch"], None]
#: Told of every node link or engine status message (``kind`` ``node`` or ``engine``).
StatusObserver = Callable[[str, dict[str, Any]], None]


class NodeStatus(StrEnum):
    """Whether a node has a live link to this coordinator.

    ``CONNECTING``: linked, but its snapshot or catch-up has not arrived yet. ``ONLINE``: linked
    and caught up, so the view of its containers is current.
    """

    CONNECTING = "connecting"
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(eq=False)
class NodeState:
    """Everything the coordinator knows about one node, kept live by its link."""

    node_id: str
    status: NodeStatus = NodeStatus.OFFLINE
    #: The display name and labels an admin gave the node when registering it.
    name: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    session: LinkSession | None = None
    connected_at: float | None = None
    last_seen: float | None = None
    agent_version: str = ""
    hostname: str = ""
    engine: EngineInfo | None = None
    engine_available: bool = False
    engine_message: str = ""
    #: The engine version recorded at the last link, shown until the node links again.
    recorded_engine_version: str = ""
    containers: dict[str, ContainerSummary] = field(default_factory=dict)
    base_seq: int = 0
    seq: int = 0
    journal: EventJournal = field(default_factory=lambda: EventJournal(JOURNAL_SIZE))

    def to_json(self) -> dict[str, Any]:
        """The node as the API shows it."""
        states: dict[str, int] = {}
        for c in self.containers.values():
            states[c.state] = states.get(c.state, 0) + 1
        return {
            "node_id": self.node_id,
            "name": self.name,
            "labels": self.labels,
            "status": self.status.value,
            "connected_at": iso(self.connected_at),
            "last_seen": iso(self.last_seen),
            "agent_version": self.agent_version,
            "hostname": self.hostname,
            "engine": {
                "available": self.engine_available,
                "message": self.engine_message,
                "version": self.engine.version
                if self.engine
                else self.recorded_engine_version or None,
                "api_version": self.engine.api_version if self.engine else None,
                "os": self.engine.os if self.engine else None,
                "arch": self.engine.arch if self.engine else None,
            },
            "containers": {"total": len(self.containers), **states},
            "seq": self.seq,
        }

    def events_after(self, seq: int) -> list[pb.Event] | None:
        """Journaled events after ``seq``, or ``None`` if the journal has a gap there."""
        return self.journal.after(seq, base_seq=self.base_seq, last_seq=self.seq)


class Subscriber:
    """One live client of the fleet stream (an events WebSocket, an observer)."""

    #: Subscribers of this process that fell too far behind (for ``/metrics``).
    overflow_total: ClassVar[int] = 0

    def __init__(self, nodes: frozenset[str] | None = None) -> None:
        self.nodes = nodes
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self.overflowed = False
        #: node id -> seq the client asked to resume from, for nodes not caught up yet.
        self.pending_resume: dict[str, int] = {}

    def wants(self, node_id: str) -> bool:
        """Whether this subscriber sees ``node_id``."""
        return self.nodes is None or node_id in self.nodes

    def offer(self, message: dict[str, Any]) -> None:
        """Queue ``message``; a client that falls this far behind is marked overflowed."""
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            # The reader drains what it has, sees the flag and closes the client, which
            # resumes with since_seq: nothing is lost silently.
            self.overflowed = True
            Subscriber.overflow_total += 1


class Fleet:
    """The live, in-memory view of every node and container, fed by node links.

    Lists are served from here, never by asking engines. Every change is pushed to the
    subscribers that may see the node, in order, as JSON-ready messages.
    """

    def __init__(self, *, history: History | None = None, journal: int = JOURNAL_SIZE) -> None:
        self.nodes: dict[str, NodeState] = {}
        #: Events journaled per node (``CoordinatorConfig.event_journal``).
        self.journal_size = journal
        self._subscribers: set[Subscriber] = set()
        #: Resource samples of every node's containers (see :meth:`apply_stats`).
        self.history = history or History()
        self.event_observers: list[EventObserver] = []
        self.stats_observers: list[StatsObserver] = []
        self.status_observers: list[StatusObserver] = []

    # ---- nodes -------------------------------------------------------------------------

    def _new_state(self, node_id: str) -> NodeState:
        return NodeState(node_id, journal=EventJournal(self.journal_size))

    def node(self, node_id: str) -> NodeState:
        """The node ``node_id``; raises ``NotFound`` if it never linked."""
        state = self.nodes.get(node_id)
        if state is None:
            raise NotFound(f"no such node: {node_id}")
        return state

    def know(self, record: NodeRecord) -> NodeState:
        """Add a registered node to the view (offline until it links); returns its state.

        The coordinator does this at start for every node in the store, and when an admin
        pre-registers one, so that a node that is not linked is listed as offline. A known
        node whose name or labels changed (an admin renamed it) is announced to the subscribers
        that see it, as a ``node`` message with its current status, ``name`` and ``labels``.
        """
        state = self.nodes.get(record.node_id)
        known = state is not None
        if state is None:
            state = self.nodes[record.node_id] = self._new_state(record.node_id)
            if record.last_seen_at is not None:
                state.last_seen = record.last_seen_at.timestamp()
            state.agent_version = record.agent_version or ""
            state.hostname = record.hostname or ""
            state.recorded_engine_version = record.engine_version or ""
            self._broadcast(
                record.node_id, {"kind": "node", "node_id": record.node_id, "status": "offline"}
            )
        name, labels = record.name or "", dict(record.labels)
        if known and (state.name, state.labels) != (name, labels):
            # Not a status change: the status observers (alerts) are not told.
            status = state.status.value
            message = {"kind": "node", "node_id": state.node_id, "status": status}
            self._offer(state.node_id, {**message, "name": name, "labels": labels})
        state.name, state.labels = name, labels
        return state

    def online_session(self, node_id: str) -> LinkSession:
        """The live link of ``node_id``; raises ``NodeOffline`` at once when there is none."""
        state = self.node(node_id)
        if state.status is NodeStatus.OFFLINE or state.session is None:
            seen = f" (last seen {iso(state.last_seen)})" if state.last_seen else ""
            raise NodeOffline(f"node {node_id} is offline{seen}")
        return state.session

    def attach(self, node_id: str, session: LinkSession, hello: pb.Hello) -> NodeState:
        """Record a node's new link; returns its state (created on first contact)."""
        state = self.nodes.get(node_id)
        if state is None:
            state = self.nodes[node_id] = self._new_state(node_id)
        now = time.time()
        state.session, state.status = session, NodeStatus.CONNECTING
        state.connected_at = state.last_seen = now
        state.agent_version, state.hostname = hello.agent_version, hello.hostname
        if hello.HasField("engine"):
            state.engine = engine_info_from_proto(hello.engine)
        return state

    def _caught_up(self, state: NodeState) -> bool:
        if state.status is not NodeStatus.CONNECTING:
            return False
        state.status = NodeStatus.ONLINE
        self._broadcast(
            state.node_id, {"kind": "node", "node_id": state.node_id, "status": "online"}
        )
        return True

    def detach(self, node_id: str, session: LinkSession) -> None:
        """Mark the node offline, unless a newer link already replaced ``session``."""
        state = self.nodes.get(node_id)
        if state is None or state.session is not session:
            return
        state.session, state.status, state.last_seen = None, NodeStatus.OFFLINE, time.time()
        self.history.clear_current(node_id)
        self._broadcast(node_id, {"kind": "node", "node_id": node_id, "status": "offline"})

    def forget(self, node_id: str) -> None:
        """Drop a node from the view (it was deleted or revoked)."""
        self.history.forget_node(node_id)
        if self.nodes.pop(node_id, None) is not None:
            self._broadcast(node_id, {"kind": "node", "node_id": node_id, "status": "removed"})

    def online_count(self) -> int:
        """How many nodes have a live link."""
        return sum(1 for s in self.nodes.values() if s.status is NodeStatus.ONLINE)

    # ---- node messages -----------------------------------------------------------------

    def apply_snapshot(self, node_id: str, snapshot: pb.Snapshot) -> None:
        """Replace the node's state with a full snapshot and its journal."""
        state = self.node(node_id)
        state.last_seen = time.time()
        state.containers = {c.id: summary_from_proto(c) for c in snapshot.containers}
        state.base_seq, state.seq = snapshot.base_seq, snapshot.seq
        state.journal.replace(snapshot.journal)
        if snapshot.HasField("engine"):
            self._apply_engine(state, snapshot.engine)
        self._caught_up(state)
        for sub in self._subscribers:
            if sub.wants(node_id):
                self._resume_or_resync(sub, state)

    def apply_events(self, node_id: str, events: Iterable[pb.Event]) -> None:
        """Apply a batch of node events in order, skipping any already applied."""
        state = self.node(node_id)
        state.last_seen = time.time()
        first = self._caught_up(state)
        for event in events:
            if event.seq <= state.seq:
                continue
            state.seq = event.seq
            state.journal.append(event)
            if event.type == "container":
                previous = state.containers.get(event.actor_id)
                if event.removed:
                    state.containers.pop(event.actor_id, None)
                    self.history.forget_container(node_id, event.actor_id)
                elif event.HasField("container"):
                    state.containers[event.actor_id] = summary_from_proto(event.container)
                for observe in self.event_observers:
                    observe(node_id, event, previous)
            self._broadcast(node_id, event_json(node_id, event))
        if first:
            for sub in self._subscribers:
                if node_id in sub.pending_resume:
                    self._resume_or_resync(sub, state)

    def apply_engine_status(self, node_id: str, status: pb.EngineStatus) -> None:
        """Record whether the node's engine answers."""
        state = self.node(node_id)
        self._apply_engine(state, status)
        self._broadcast(
            node_id,
            {
                "kind": "engine",
                "node_id": node_id,
                "available": status.available,
                "message": status.message,
            },
        )

    def apply_stats(self, node_id: str, batch: pb.StatsBatch) -> None:
        """Record a node's resource samples in the history."""
        state = self.node(node_id)
        running = sum(1 for c in state.containers.values() if c.state == "running")
        self.history.apply(node_id, batch, running, known=state.containers)
        for observe in self.stats_observers:
            observe(node_id, batch)

    @staticmethod
    def _apply_engine(state: NodeState, status: pb.EngineStatus) -> None:
        state.engine_available, state.engine_message = status.available, status.message
        if status.HasField("engine"):
            state.engine = engine_info_from_proto(status.engine)

    # ---- reading -----------------------------------------------------------------------

    def containers(self, nodes: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
        """Container JSON of the given nodes (all online nodes by default)."""
        ids = list(nodes) if nodes is not None else list(self.nodes)
        for node_id in ids:
            state = self.nodes.get(node_id)
            if state is None or state.status is not NodeStatus.ONLINE:
                continue
            for summary in state.containers.values():
                yield self._with_stats(node_id, container_json(node_id, summary))

    def _with_stats(self, node_id: str, row: dict[str, Any]) -> dict[str, Any]:
        """Add ``cpu_percent`` and ``memory_usage`` to a running container that is sampled."""
        sample = self.history.current(node_id, row["id"])
        if sample is not None and row["state"] == "running":
            row["cpu_percent"] = round(sample.cpu_percent, 3)
            row["memory_usage"] = sample.memory_usage
        return row

    def resolve(
        self,
        node_id: str,
        ref: str,
        *,
        visible: Callable[[ContainerSummary], bool] | None = None,
    ) -> ContainerSummary:
        """The container ``ref`` (id, unique id prefix of 4+ characters, or name) on an online
        node.

        With ``visible``, only the containers it accepts are candidates: the others neither
        match nor make a prefix ambiguous (a caller never learns of them).

        Raises:
            NotFound: unknown node or container.
            NodeOffline: the node is offline.
            AmbiguousRef: an ambiguous prefix; ``details["matches"]`` lists the candidates.
        """
        self.online_session(node_id)
        state = self.node(node_id)
        candidates = (
            (node_id, s) for s in state.containers.values() if visible is None or visible(s)
        )
        return resolve_ref(ref, candidates)[1]

    def resolve_anywhere(self, ref: str) -> tuple[str, ContainerSummary]:
        """Like :meth:`resolve` across every online node; also accepts ``node/container``."""
        node_id, sep, rest = ref.partition("/")
        if sep and rest and node_id in self.nodes:
            return node_id, self.resolve(node_id, rest)
        pairs = (
            (state.node_id, summary)
            for state in self.nodes.values()
            if state.status is NodeStatus.ONLINE
            for summary in state.containers.values()
        )
        return resolve_ref(ref, pairs)

    # ---- subscribers -------------------------------------------------------------------

    def subscribe(
        self, sub: Subscriber, since: dict[str, int] | None = None
    ) -> dict[str, Any] | None:
        """Register ``sub``; returns the first message to send, or ``None`` on a full resume.

        With ``since`` (node id -> last seq seen), the client is caught up from the journals
        and gets no snapshot when every node it sees can be caught up; a node not linked yet
        is caught up once its link delivers its journal.
        """
        self._subscribers.add(sub)
        visible = [s for s in self.nodes.values() if sub.wants(s.node_id)]
        if since is not None:
            backlog: list[dict[str, Any]] = []
            complete = True
            for node_id, seq in since.items():
                state = self.nodes.get(node_id)
                if not sub.wants(node_id):
                    continue
                if state is None or state.status is not NodeStatus.ONLINE:
                    sub.pending_resume[node_id] = seq
                    continue
                events = state.events_after(seq)
                if events is None:
                    complete = False
                    break
                backlog.extend(event_json(node_id, e) for e in events)
            if complete:
                for message in backlog:
                    sub.offer(message)
                return None
            sub.pending_resume.clear()
        return self.snapshot_message(visible)

    def unsubscribe(self, sub: Subscriber) -> None:
        """Stop sending to ``sub``."""
        self._subscribers.discard(sub)

    def snapshot_message(self, states: list[NodeState]) -> dict[str, Any]:
        """The ``snapshot`` message for the given nodes."""
        return {
            "kind": "snapshot",
            "nodes": [s.to_json() for s in states],
            "containers": list(self.containers(s.node_id for s in states)),
            "seq": {s.node_id: s.seq for s in states},
        }

    def _resume_or_resync(self, sub: Subscriber, state: NodeState) -> None:
        since = sub.pending_resume.pop(state.node_id, None)
        events = state.events_after(since) if since is not None else None
        if events is not None:
            for event in events:
                sub.offer(event_json(state.node_id, event))
            return
        sub.offer(
            {
                "kind": "resync",
                "node_id": state.node_id,
                "containers": [container_json(state.node_id, c) for c in state.containers.values()],
                "seq": state.seq,
            }
        )

    def broadcast_alert(self, node_id: str, message: dict[str, Any]) -> None:
        """Push an ``alert`` message to the subscribers that see ``node_id`` (the events
        stream shows alerts to admins only: ``docklord.web._container_policy``)."""
        for sub in self._subscribers:
            if sub.wants(node_id):
                sub.offer(message)

    def broadcast_fleetwide(self, message: dict[str, Any]) -> None:
        """Push a message about no one node (an ``audit`` entry) to the subscribers that see
        every node (the events stream shows those to admins only:
        ``docklord.web._container_policy``)."""
        for sub in self._subscribers:
            if sub.nodes is None:
                sub.offer(message)

    def broadcast_all(self, message: dict[str, Any]) -> None:
        """Push a message about no node to every subscriber (an ``identity`` change); the
        events stream decides who sees it (``docklord.web._container_policy``)."""
        for sub in self._subscribers:
            sub.offer(message)

    def _broadcast(self, node_id: str, message: dict[str, Any]) -> None:
        if message["kind"] in ("node", "engine"):
            for observe in self.status_observers:
                observe(node_id, message)
        self._offer(node_id, message)

    def _offer(self, node_id: str, message: dict[str, Any]) -> None:
        for sub in self._subscribers:
            if sub.wants(node_id) and node_id not in sub.pending_resume:
                sub.offer(message)

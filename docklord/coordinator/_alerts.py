"""The alert evaluator: rules applied to the live fleet, incidents opened and resolved.

Event-driven, never polling an engine: container events, stats batches (the history's feed)
and node/engine status changes reach it as ``Fleet`` observers, and the lines of containers
selected by ``log_match`` rules through :class:`LogFollowers`. A timer (``tick`` seconds)
only ages what is already known: how long a node has been offline, how long since the last
restart or matching line. Decisions are taken synchronously in memory (so an observer never
waits); what they produce (store writes, the ``{"kind": "alert"}`` stream frame, webhook
messages) runs in one worker task, in order.

De-duplication: one incident per (rule, subject), where the subject is ``node`` or
``node/container``. While it is open, the condition holding again changes nothing; once it
resolves, the next occurrence opens a new incident. Open incidents are reloaded from the store
at start, so a restarted coordinator does not fire them again. Across coordinators sharing
one database the store is the arbiter: it holds at most one firing incident per (rule,
subject), and a firing or resolved message goes out only from the coordinator whose write
opened or resolved it. The resolve rule of each kind is
in :class:`~docklord.coordinator._alert_rules.Kind`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Concatenate, ParamSpec

import structlog

from docklord.coordinator._alert_delivery import Deliverer, Message
from docklord.coordinator._alert_incidents import Incident, Pending, claim, from_alert, measure
from docklord.coordinator._alert_logs import LogFollowers, OpenChannel, follow_from
from docklord.coordinator._alert_payloads import alert_json, delivery_frame, render
from docklord.coordinator._alert_rules import CONTAINER_KINDS, NODE_KINDS, Kind, Rule
from docklord.coordinator._fleet import Fleet, NodeStatus
from docklord.errors import Conflict, DocklordError
from docklord.model import ContainerSummary
from docklord.protocol import docklord_pb2 as pb
from docklord.store import Alert, Store

__all__ = ["AlertEvaluator"]

log = structlog.get_logger(__name__)

_JOBS = 10_000
#: Restarts remembered per container (a restart loop needs at most this many).
_RESTART_MEMORY = 100


Clock = Callable[[], float]
P = ParamSpec("P")


def _guarded(
    method: Callable[Concatenate[AlertEvaluator, P], None],
) -> Callable[Concatenate[AlertEvaluator, P], None]:
    """An observer that logs its own failure: a bug here must never break the fleet cache."""

    def run(self: AlertEvaluator, *args: P.args, **kwargs: P.kwargs) -> None:
        try:
            method(self, *args, **kwargs)
        except Exception as exc:
            log.error(
                "alerts.observer_failed", observer=method.__name__, error=repr(exc), exc_info=exc
            )

    return functools.update_wrapper(run, method)  # type: ignore[return-value]


class AlertEvaluator:
    """Applies the stored rules to the fleet and delivers their alerts (see the module doc).

    Args:
        store: rules, channels and alerts.
        fleet: the live cache it observes.
        open_channel: ``Coordinator.open_channel`` (for log follows).
        tick: seconds between ageing passes (durations are as exact as this).
        max_followed: the most containers whose logs are followed at once.
        clock: Unix seconds (tests pass a controllable one).
    """

    def __init__(
        self,
        store: Store,
        fleet: Fleet,
        open_channel: OpenChannel,
        *,
        tick: float = 0.5,
        max_followed: int = 100,
        clock: Clock = time.time,
    ) -> None:
        self._store, self._fleet, self._tick, self._clock = store, fleet, tick, clock
        self.rules: list[Rule] = []
        self.open: dict[tuple[int, str], Incident] = {}
        self.deliverer = Deliverer(
            store, render, lambda a, d: fleet.broadcast_alert(a.node_id, delivery_frame(a, d))
        )
        self.logs = LogFollowers(open_channel, self.on_line, max_followed)
        self._pending = Pending()
        self._restarts: dict[str, deque[float]] = {}
        self._jobs: asyncio.Queue[tuple[str, Incident, str]] = asyncio.Queue(_JOBS)
        self._tasks: list[asyncio.Task[None]] = []
        self._reload_lock = asyncio.Lock()

    # ---- life cycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Load rules, channels and open incidents; start observing and the timer."""
        await self.deliverer.start()
        await self.reload()
        by_id = {r.id: r for r in self.rules}
        for alert in await self._store.list_alerts(state="firing", limit=500):
            rule = by_id.get(alert.rule_id or 0)
            if rule is not None:
                self.open[(rule.id, alert.subject)] = from_alert(rule, alert, self._clock())
        now = self._clock()
        for state in self._fleet.nodes.values():
            if state.status is NodeStatus.OFFLINE:
                self._pending.offline[state.node_id] = now
        self._fleet.event_observers.append(self.on_event)
        self._fleet.stats_observers.append(self.on_stats)
        self._fleet.status_observers.append(self.on_status)
        self._tasks = [
            asyncio.create_task(self._work(), name="alerts-worker"),
            asyncio.create_task(self._timer(), name="alerts-timer"),
        ]

    async def reload(self) -> None:
        """Read rules and channels again (after an API change); incidents of rules that are
        gone or disabled resolve."""
        async with self._reload_lock:
            stored = await self._store.list_rules()
            channels = {c.id: c for c in await self._store.list_channels()}
            rules = []
            for r in stored:
                if not r.enabled:
                    continue
                try:
                    rules.append(Rule.compile(r))
                except DocklordError as exc:
                    log.warning("alerts.rule_skipped", rule=r.id, error=exc.message)
            self.rules = rules
            self.deliverer.sync(channels)
            by_id = {r.id: r for r in rules}
            for key, incident in list(self.open.items()):
                current = by_id.get(incident.rule.id)
                if current is None:
                    self._resolve(key, "the rule was deleted or disabled")
                else:
                    incident.rule = current
            self._sync_follows()

    async def aclose(self) -> None:
        """Stop the timer, the worker, log follows and deliveries."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.logs.aclose()
        await self.deliverer.aclose()

    # ---- incidents ---------------------------------------------------------------------

    def fire(
        self,
        rule: Rule,
        subject: str,
        node_id: str,
        summary: str,
        *,
        container: ContainerSummary | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> bool:
        """Open an incident unless one is open; returns whether it opened."""
        key, now = (rule.id, subject), self._clock()
        if key in self.open:
            self.open[key].last_seen = now
            return False
        incident = Incident(
            rule,
            subject,
            node_id,
            container.id if container else None,
            container.name if container else None,
            summary,
            dict(details or {}),
            now,
        )
        self.open[key] = incident
        self._enqueue("firing", incident, "")
        return True

    def _resolve(self, key: tuple[int, str], reason: str) -> None:
        incident = self.open.pop(key, None)
        if incident is not None:
            self._enqueue("resolved", incident, reason)

    def _resolve_subject(self, subject: str, kinds: frozenset[Kind], reason: str) -> None:
        for key, incident in list(self.open.items()):
            if key[1] == subject and incident.rule.kind in kinds:
                self._resolve(key, reason)

    def _enqueue(self, event: str, incident: Incident, reason: str) -> None:
        try:
            self._jobs.put_nowait((event, incident, reason))
        except asyncio.QueueFull:
            log.error("alerts.queue_full", rule=incident.rule.id, subject=incident.subject)

    async def _work(self) -> None:
        while True:
            event, incident, reason = await self._jobs.get()
            try:
                await self._record(event, incident, reason)
            except DocklordError as exc:
                log.error("alerts.record_failed", rule=incident.rule.id, error=exc.message)

    async def _record(self, event: str, incident: Incident, reason: str) -> None:
        if event == "firing":
            alert = await claim(self._store, incident)
            if alert is None:
                return
            log.info("alert firing", alert=alert.id, summary=incident.summary)
        elif incident.alert is not None:
            try:
                alert = incident.alert = await self._store.resolve_alert(
                    incident.alert.id, {"resolved_reason": reason}
                )
            except Conflict:
                # Another coordinator on this database resolved it and sent the message.
                log.info("alert resolved elsewhere", alert=incident.alert.id)
                return
            log.info("alert resolved", alert=alert.id, reason=reason)
        else:
            return
        self._publish(incident.rule, alert, event)

    def _publish(self, rule: Rule, alert: Alert, event: str) -> None:
        body = alert_json(alert)
        frame = {**body, "kind": "alert", "event": event, "alert_kind": alert.kind}
        self._fleet.broadcast_alert(alert.node_id, frame)
        message = Message(alert, event, body)
        for channel_id in rule.channel_ids:
            self.deliverer.send(channel_id, message)

    # ---- containers --------------------------------------------------------------------

    def _container_rules(self, node_id: str, summary: ContainerSummary) -> list[Rule]:
        return [
            r
            for r in self.rules
            if r.kind in CONTAINER_KINDS and r.selector.container(node_id, summary)
        ]

    @_guarded
    def on_event(self, node_id: str, event: pb.Event, previous: ContainerSummary | None) -> None:
        """A container event the fleet applied (``Fleet.event_observers``)."""
        state = self._fleet.nodes.get(node_id)
        summary = state.containers.get(event.actor_id) if state else None
        subject = f"{node_id}/{event.actor_id}"
        if event.removed or summary is None:
            self._restarts.pop(subject, None)
            self.logs.stop(node_id, event.actor_id)
            self._resolve_subject(subject, CONTAINER_KINDS, "the container was removed")
            return
        for rule in self._container_rules(node_id, summary):
            self._container_rule(rule, subject, node_id, event, summary, previous)
        if event.action == "start" and summary.state == "running":
            self._follow_started(node_id, summary)

    def _container_rule(
        self,
        rule: Rule,
        subject: str,
        node_id: str,
        event: pb.Event,
        summary: ContainerSummary,
        previous: ContainerSummary | None,
    ) -> None:
        action, key = event.action, (rule.id, subject)
        if action in ("start", "die", "stop") and rule.kind in (Kind.CPU_HIGH, Kind.MEMORY_HIGH):
            self._pending.above.pop(key, None)
            self._resolve(key, "the container stopped or restarted")
        if rule.kind is Kind.CONTAINER_DIED:
            self._died(rule, subject, node_id, event, summary)
        elif rule.kind is Kind.RESTART_LOOP and action == "start":
            self._restarted(rule, subject, node_id, event, summary, previous)
        elif rule.kind is Kind.UNHEALTHY:
            self._health(rule, subject, node_id, event, summary)

    def _died(
        self, rule: Rule, subject: str, node_id: str, event: pb.Event, summary: ContainerSummary
    ) -> None:
        if event.action == "start":
            self._resolve((rule.id, subject), "the container runs again")
        elif event.action == "oom":
            text = f"container {summary.name} on {node_id} was OOM-killed"
            self.fire(rule, subject, node_id, text, container=summary, details={"oom": True})
        elif event.action == "die":
            code = event.attributes.get("exitCode", "")
            if code not in ("", "0"):
                text = f"container {summary.name} on {node_id} died with exit code {code}"
                details = {"exit_code": int(code) if code.lstrip("-").isdigit() else code}
                self.fire(rule, subject, node_id, text, container=summary, details=details)

    def _restarted(
        self,
        rule: Rule,
        subject: str,
        node_id: str,
        event: pb.Event,
        summary: ContainerSummary,
        previous: ContainerSummary | None,
    ) -> None:
        if previous is None or previous.started_at is None:
            return  # a first start is not a restart
        now = event.time_nano / 1e9 if event.time_nano else self._clock()
        times = self._restarts.setdefault(subject, deque(maxlen=_RESTART_MEMORY))
        if not times or times[-1] != now:
            times.append(now)
        restarts, window = int(rule.number("restarts", 3)), rule.number("window", 300.0)
        recent = sum(1 for t in times if now - t <= window)
        if recent >= restarts:
            text = f"container {summary.name} on {node_id} restarted {recent} times in {window:g}s"
            self.fire(rule, subject, node_id, text, container=summary, details={"restarts": recent})

    def _health(
        self, rule: Rule, subject: str, node_id: str, event: pb.Event, summary: ContainerSummary
    ) -> None:
        detail = event.attributes.get("action_detail", "")
        if event.action == "health_status" and detail.endswith("unhealthy"):
            text = f"container {summary.name} on {node_id} is unhealthy"
            self.fire(rule, subject, node_id, text, container=summary)
        elif (event.action == "health_status" and detail.endswith("healthy")) or (
            event.action in ("die", "stop")
        ):
            self._resolve((rule.id, subject), f"health: {detail or event.action}")

    # ---- stats -------------------------------------------------------------------------

    @_guarded
    def on_stats(self, node_id: str, batch: pb.StatsBatch) -> None:
        """A stats batch the history recorded (``Fleet.stats_observers``)."""
        rules = [r for r in self.rules if r.kind in (Kind.CPU_HIGH, Kind.MEMORY_HIGH)]
        state = self._fleet.nodes.get(node_id)
        if not rules or state is None:
            return
        for sample in batch.containers:
            summary = state.containers.get(sample.id)
            if summary is None:
                continue
            for rule in rules:
                if rule.selector.container(node_id, summary):
                    self._threshold(rule, node_id, summary, sample, batch.time)

    def _threshold(
        self,
        rule: Rule,
        node_id: str,
        summary: ContainerSummary,
        sample: pb.ContainerStats,
        at: float,
    ) -> None:
        subject = f"{node_id}/{summary.id}"
        key = (rule.id, subject)
        value, limit, unit = measure(rule, sample)
        if value <= limit:
            self._pending.above.pop(key, None)
            self._resolve(key, f"{rule.kind.value.split('_')[0]} back at {value:g}{unit}")
            return
        since = self._pending.above.setdefault(key, at)
        if at - since >= rule.duration:
            what = "CPU" if rule.kind is Kind.CPU_HIGH else "memory"
            text = (
                f"container {summary.name} on {node_id}: {what} {value:g}{unit} above "
                f"{limit:g}{unit} for {at - since:g}s"
            )
            details = {"value": value, "threshold": limit}
            self.fire(rule, subject, node_id, text, container=summary, details=details)

    # ---- nodes -------------------------------------------------------------------------

    @_guarded
    def on_status(self, node_id: str, message: Mapping[str, Any]) -> None:
        """A node's link or engine status changed (``Fleet.status_observers``)."""
        now = self._clock()
        if message.get("kind") == "node":
            status = message.get("status")
            if status == "offline":
                self._pending.offline.setdefault(node_id, now)
                self._pending.engine_down.pop(node_id, None)
                self._resolve_subject(node_id, frozenset({Kind.ENGINE_UNAVAILABLE}), "node offline")
                self.logs.stop(node_id)
            elif status in ("online", "removed"):
                self._pending.offline.pop(node_id, None)
                self._resolve_subject(node_id, frozenset({Kind.NODE_OFFLINE}), f"node {status}")
                if status == "online":
                    self._node_online(node_id, now)
                else:
                    self._resolve_subject(node_id, NODE_KINDS, "node removed")
        elif message.get("kind") == "engine":
            if message.get("available"):
                self._pending.engine_down.pop(node_id, None)
                kinds = frozenset({Kind.ENGINE_UNAVAILABLE})
                self._resolve_subject(node_id, kinds, "engine available again")
            else:
                self._pending.engine_down.setdefault(node_id, now)

    def _node_online(self, node_id: str, now: float) -> None:
        state = self._fleet.nodes.get(node_id)
        if state is not None and not state.engine_available:
            self._pending.engine_down.setdefault(node_id, now)
        self._sync_follows(node_id)

    def _node_rules(self, kind: Kind, node_id: str) -> list[Rule]:
        state = self._fleet.nodes.get(node_id)
        name, labels = (state.name, state.labels) if state else ("", {})
        return [r for r in self.rules if r.kind is kind and r.selector.node(node_id, name, labels)]

    # ---- the timer ---------------------------------------------------------------------

    async def _timer(self) -> None:
        while True:
            await asyncio.sleep(self._tick)
            try:
                self.age(self._clock())
            except Exception as exc:
                log.error("alerts.timer_failed", error=repr(exc), exc_info=exc)

    def age(self, now: float) -> None:
        """Fire what has held long enough, resolve what has been quiet long enough."""
        for kind, pending, what in (
            (Kind.NODE_OFFLINE, self._pending.offline, "is offline"),
            (Kind.ENGINE_UNAVAILABLE, self._pending.engine_down, "has no engine"),
        ):
            for node_id, since in list(pending.items()):
                for rule in self._node_rules(kind, node_id):
                    if now - since >= rule.duration:
                        text = f"node {node_id} {what} for {now - since:.0f}s"
                        self.fire(rule, node_id, node_id, text, details={"since": since})
        for key, incident in list(self.open.items()):
            rule = incident.rule
            if rule.kind is Kind.RESTART_LOOP:
                times = self._restarts.get(incident.subject)
                last = times[-1] if times else incident.last_seen
                if now - last >= rule.number("window", 300.0):
                    self._resolve(key, "no restart within the window")
            elif rule.kind is Kind.LOG_MATCH and now - incident.last_seen >= rule.number(
                "resolve_after", 300.0
            ):
                self._resolve(key, "no matching line since")

    # ---- logs --------------------------------------------------------------------------

    def _sync_follows(self, only_node: str | None = None) -> None:
        """Follow, from now on, every running container a ``log_match`` rule selects (of one
        node, or all); stop following the others."""
        rules = [r for r in self.rules if r.kind is Kind.LOG_MATCH]
        wanted: set[tuple[str, str]] = set()
        for state in self._fleet.nodes.values():
            if state.status is NodeStatus.OFFLINE or not rules:
                continue
            for summary in state.containers.values():
                if summary.state == "running" and any(
                    r.selector.container(state.node_id, summary) for r in rules
                ):
                    wanted.add((state.node_id, summary.id))
                    if only_node in (None, state.node_id):
                        self.logs.follow(state.node_id, summary.id, "now")
        for node_id, container_id in self.logs.followed():
            if (node_id, container_id) not in wanted:
                self.logs.stop(node_id, container_id)

    def _follow_started(self, node_id: str, summary: ContainerSummary) -> None:
        """Follow a container that just started, from its first line."""
        if any(
            r.kind is Kind.LOG_MATCH and r.selector.container(node_id, summary) for r in self.rules
        ):
            self.logs.follow(node_id, summary.id, follow_from(summary))

    @_guarded
    def on_line(self, node_id: str, container_id: str, line: str) -> None:
        """A line of a followed container."""
        state = self._fleet.nodes.get(node_id)
        summary = state.containers.get(container_id) if state else None
        if summary is None:
            return
        subject = f"{node_id}/{container_id}"
        for rule in self._container_rules(node_id, summary):
            if rule.kind is Kind.LOG_MATCH and rule.pattern and rule.pattern.search(line):
                text = f"container {summary.name} on {node_id} logged: {line[:200]}"
                details = {"line": line[:1000]}
                self.fire(rule, subject, node_id, text, container=summary, details=details)

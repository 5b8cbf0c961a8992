"""Two coordinator replicas on one database deliver each incident once (in process).

Both replicas hold the node in their fleet cache (as every replica does, DESIGN.md §6) and see
the same container events, so both evaluators decide the same incident. The shared store is
the arbiter: one replica's write opens the incident and that replica sends ``firing``; the
other adopts it, and of the two that then resolve it, one sends ``resolved``. The store-level
race on SQLite and PostgreSQL is in tests/store/test_alerts.py.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

from docklord.config import CoordinatorConfig
from docklord.coordinator import Coordinator, NodeState, NodeStatus
from docklord.protocol import docklord_pb2 as pb
from docklord.protocol import summary_to_proto
from docklord.testing import WebhookReceiver, eventually

from ._alerting import CID, PASSWORD, summary_of


def _apply(replicas: list[Coordinator], seq: int, action: str, state: str, **attrs: str) -> None:
    summary = summary_of(state, 1.0)
    event = pb.Event(
        seq=seq,
        type="container",
        action=action,
        actor_id=CID,
        attributes=attrs,
        container=summary_to_proto(summary),
    )
    for replica in replicas:
        replica.fleet.nodes["n1"].containers[CID] = summary
        replica.fleet.apply_events("n1", [event])


async def test_two_replicas_on_one_database_send_each_incident_once(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    async with AsyncExitStack() as stack:
        hooks = await stack.enter_async_context(WebhookReceiver())
        replicas = []
        for name in ("a", "b"):
            config = CoordinatorConfig(
                data_dir=str(tmp_path / name),
                database_url=url,
                grpc_port=0,
                admin_password=PASSWORD,
            )
            replica = Coordinator(config, announce=lambda _: None)
            replicas.append(await stack.enter_async_context(replica))
            replica.fleet.nodes["n1"] = NodeState("n1", status=NodeStatus.ONLINE)
            replica.fleet.nodes["n1"].containers[CID] = summary_of("running", 1.0)
        store = replicas[0].store
        channel = await store.create_channel(
            "ops", "webhook", hooks.url("/ops"), timeout=5, max_attempts=2, backoff=0.05
        )
        await store.create_rule(
            "died", "container_died", selector={}, params={}, channel_ids=[channel.id]
        )
        for replica in replicas:
            await replica.alerts.reload()

        for seq, code in ((1, "3"), (3, "4")):  # two incidents, one after the other
            _apply(replicas, seq, "die", "exited", exitCode=code)
            # Both decided the incident and recorded it: opened it, or took the other's.
            await _until(lambda: all(_recorded(r) for r in replicas))
            firing = await store.list_alerts(state="firing")
            assert len(firing) == 1, firing
            held = {i.alert.id for r in replicas for i in r.alerts.open.values() if i.alert}
            assert held == {firing[0].id}
            _apply(replicas, seq + 1, "start", "running")
            await _until(lambda: not any(r.alerts.open for r in replicas))
        await _until(lambda: len(hooks.to("/ops")) >= 4)
        sent = [(h.body["event"], h.body["alert"]["id"]) for h in hooks.to("/ops")]
        alerts = await store.list_alerts()
        assert [a.state for a in alerts] == ["resolved", "resolved"]
        second, first = (a.id for a in alerts)
        assert sent == [
            ("firing", first),
            ("resolved", first),
            ("firing", second),
            ("resolved", second),
        ]

        async def delivered_once() -> bool:
            done = await store.deliveries_of([first, second])
            return all(sorted(d.event for d in done[a]) == ["firing", "resolved"] for a in done)

        await eventually(delivered_once, what="one delivery of each message, recorded")


def _recorded(replica: Coordinator) -> bool:
    incidents = list(replica.alerts.open.values())
    return bool(incidents) and all(i.alert is not None for i in incidents)


async def _until(condition: Callable[[], object]) -> None:
    async def probe() -> bool:
        return bool(condition())

    await eventually(probe)

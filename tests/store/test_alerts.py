"""Alert rules, channels, incidents and delivery attempts in the store (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from docklord.errors import Conflict, NotFound
from docklord.store import Alert, Store
from docklord.store._migrate import alembic_config

from .conftest import OpenStore, raw_rows

ALERT_TABLES = ("alert_channels", "alert_rules", "alerts", "alert_deliveries")


async def _rule_and_channel(store: Store) -> tuple[int, int]:
    channel = await store.create_channel(
        "ops", "webhook", "https://hooks.example/T0/secret", timeout=2, max_attempts=3, backoff=1
    )
    rule = await store.create_rule(
        "died",
        "container_died",
        selector={"name": "web-*"},
        params={},
        channel_ids=[channel.id],
    )
    return rule.id, channel.id


async def test_rules_and_channels_round_trip(store: Store) -> None:
    rule_id, channel_id = await _rule_and_channel(store)
    [channel] = await store.list_channels()
    assert (channel.id, channel.url, channel.max_attempts) == (channel_id, channel.url, 3)
    assert "secret" not in repr(channel)
    rule = await store.get_rule(rule_id)
    assert (rule.kind, rule.selector, rule.channel_ids) == (
        "container_died",
        {"name": "web-*"},
        (channel_id,),
    )
    changed = await store.update_rule(rule_id, enabled=False, params={"x": 1})
    assert (changed.enabled, changed.params, changed.name) == (False, {"x": 1}, "died")
    with pytest.raises(Conflict):
        await store.create_rule("died", "node_offline", selector={}, params={}, channel_ids=[])
    await store.delete_channel(channel_id)
    with pytest.raises(NotFound):
        await store.get_channel(channel_id)
    with pytest.raises(NotFound):
        await store.update_rule(rule_id + 100, enabled=True)


async def test_an_alert_keeps_its_deliveries_and_outlives_its_rule(
    store: Store, database_url: str
) -> None:
    rule_id, channel_id = await _rule_and_channel(store)
    rule = await store.get_rule(rule_id)
    alert = await store.open_alert(
        rule.id,
        rule.name,
        rule.kind,
        "n1/abc",
        node_id="n1",
        container_id="abc",
        container_name="web-1",
        summary="web-1 died",
        details={"exit_code": 3},
    )
    await store.record_delivery(alert.id, channel_id, "firing", 1, status_code=500, error=None)
    await store.record_delivery(alert.id, channel_id, "firing", 2, status_code=200, error=None)
    assert [a.id for a in await store.list_alerts(state="firing")] == [alert.id]
    resolved = await store.resolve_alert(alert.id, {"reason": "running again"})
    assert resolved.state == "resolved" and resolved.resolved_at is not None
    assert resolved.details == {"exit_code": 3, "reason": "running again"}
    assert await store.list_alerts(state="firing") == []
    deliveries = (await store.deliveries_of([alert.id]))[alert.id]
    assert [(d.attempt, d.ok, d.status_code) for d in deliveries] == [
        (1, False, 500),
        (2, True, 200),
    ]
    await store.delete_rule(rule_id)
    [kept] = await store.list_alerts()
    assert (kept.id, kept.rule_id, kept.rule_name) == (alert.id, None, "died")
    for table in ALERT_TABLES[1:]:
        assert table == "alert_rules" or await raw_rows(database_url, table)


async def test_of_two_coordinators_on_one_database_one_opens_and_one_resolves_an_incident(
    store: Store, open_store: OpenStore
) -> None:
    rule_id, _ = await _rule_and_channel(store)
    other = await open_store()

    async def open_on(on: Store) -> Alert | Conflict:
        try:
            return await on.open_alert(
                rule_id,
                "died",
                "container_died",
                "n1/abc",
                node_id="n1",
                container_id="abc",
                container_name="web-1",
                summary="web-1 died",
                details={},
            )
        except Conflict as exc:
            return exc

    # Both see the same death at once: the store lets exactly one open the incident.
    results = await asyncio.gather(open_on(store), open_on(other))
    [opened] = [r for r in results if isinstance(r, Alert)]
    assert sum(isinstance(r, Conflict) for r in results) == 1
    assert await other.firing_alert(rule_id, "n1/abc") == opened
    assert await store.firing_alert(rule_id, "n1/other") is None
    assert isinstance(await open_on(other), Conflict)  # still firing: no second incident

    async def resolve_on(on: Store) -> Alert | Conflict:
        try:
            return await on.resolve_alert(opened.id, {"resolved_reason": "runs again"})
        except Conflict as exc:
            return exc

    resolved = await asyncio.gather(resolve_on(store), resolve_on(other))
    [done] = [r for r in resolved if isinstance(r, Alert)]
    assert sum(isinstance(r, Conflict) for r in resolved) == 1
    assert (done.state, done.details) == ("resolved", {"resolved_reason": "runs again"})
    assert await store.firing_alert(rule_id, "n1/abc") is None
    # Once resolved, the next death is a new incident.
    again = await open_on(other)
    assert isinstance(again, Alert) and again.id != opened.id
    with pytest.raises(NotFound):
        await store.resolve_alert(again.id + 100, {})


async def test_upgrading_keeps_the_oldest_of_duplicate_firing_incidents(database_url: str) -> None:
    async with Store(database_url) as store:
        rule_id, _ = await _rule_and_channel(store)
        first = await _open(store, rule_id, "n1/abc")
        other = await _open(store, rule_id, "n1/def")
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0003"))
            # Two replicas before the claim each opened the incident.
            await conn.execute(
                text(
                    "INSERT INTO alerts (rule_id, rule_name, kind, subject, node_id, state, "
                    "summary, details, fired_at) SELECT rule_id, rule_name, kind, subject, "
                    "node_id, state, summary, details, fired_at FROM alerts WHERE id = :id"
                ),
                {"id": first.id},
            )
    finally:
        await engine.dispose()
    async with Store(database_url) as store:
        firing = await store.list_alerts(state="firing")
        assert sorted(a.id for a in firing) == [first.id, other.id]
        [copy] = await store.list_alerts(state="resolved")
        assert copy.subject == "n1/abc" and copy.id > other.id


async def _open(store: Store, rule_id: int, subject: str) -> Alert:
    return await store.open_alert(
        rule_id,
        "died",
        "container_died",
        subject,
        node_id="n1",
        container_id=None,
        container_name=None,
        summary="died",
        details={},
    )

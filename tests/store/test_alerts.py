"""Alert rules, channels, incidents and delivery attempts in the store (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from docklord.errors import Conflict, NotFound
from docklord.store import Store

from .conftest import raw_rows

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

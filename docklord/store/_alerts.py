"""Alerting state: rules, channels, alerts (one row per incident) and delivery attempts.

The evaluator (``docklord.coordinator._alerts``) decides when an incident opens and resolves;
the store only keeps what it decided, so ``GET /api/v1/alerts`` can show the history and a
restarted coordinator knows which incidents are still open (it does not fire them again).
A channel's URL is a credential: it is returned by ``get_channel``/``list_channels`` for the
deliverer, and it is the caller's job never to show or log it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from docklord.errors import Conflict, NotFound
from docklord.store import _validate as check
from docklord.store._db import StoreBase
from docklord.store._models import AlertChannelRow, AlertDeliveryRow, AlertRow, AlertRuleRow

__all__ = ["MAX_ALERT_PAGE", "Alert", "AlertChannel", "AlertDelivery", "AlertRule", "AlertsMixin"]

#: The largest ``limit`` of one ``list_alerts`` page.
MAX_ALERT_PAGE = 500


@dataclass(frozen=True, slots=True)
class AlertChannel:
    """Where alerts go: a generic JSON webhook or a Slack-compatible incoming webhook.

    ``url`` is a secret; ``timeout`` is per attempt, ``backoff`` the first retry delay
    (doubling), ``max_attempts`` the attempts per message.
    """

    id: int
    name: str
    type: str
    url: str = field(repr=False)
    timeout: float
    max_attempts: int
    backoff: float
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One rule: its ``kind``, what it selects, its kind's parameters and its channels."""

    id: int
    name: str
    kind: str
    enabled: bool
    selector: Mapping[str, Any]
    params: Mapping[str, Any]
    channel_ids: tuple[int, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Alert:
    """One incident of one rule about one subject (``node`` or ``node/container``)."""

    id: int
    rule_id: int | None
    rule_name: str
    kind: str
    subject: str
    node_id: str
    container_id: str | None
    container_name: str | None
    state: str
    summary: str
    details: Mapping[str, Any]
    fired_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class AlertDelivery:
    """One attempt to deliver an alert's ``firing`` or ``resolved`` message to a channel."""

    id: int
    alert_id: int
    channel_id: int | None
    event: str
    attempt: int
    time: datetime
    ok: bool
    status_code: int | None
    error: str | None


def _channel(row: AlertChannelRow) -> AlertChannel:
    return AlertChannel(
        id=row.id,
        name=row.name,
        type=row.type,
        url=row.url,
        timeout=row.timeout,
        max_attempts=row.max_attempts,
        backoff=row.backoff,
        created_at=row.created_at,
    )


def _rule(row: AlertRuleRow) -> AlertRule:
    return AlertRule(
        id=row.id,
        name=row.name,
        kind=row.kind,
        enabled=row.enabled,
        selector=dict(row.selector),
        params=dict(row.params),
        channel_ids=tuple(row.channel_ids),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _alert(row: AlertRow) -> Alert:
    return Alert(
        id=row.id,
        rule_id=row.rule_id,
        rule_name=row.rule_name,
        kind=row.kind,
        subject=row.subject,
        node_id=row.node_id,
        container_id=row.container_id,
        container_name=row.container_name,
        state=row.state,
        summary=row.summary,
        details=dict(row.details),
        fired_at=row.fired_at,
        resolved_at=row.resolved_at,
    )


def _delivery(row: AlertDeliveryRow) -> AlertDelivery:
    return AlertDelivery(
        id=row.id,
        alert_id=row.alert_id,
        channel_id=row.channel_id,
        event=row.event,
        attempt=row.attempt,
        time=row.time,
        ok=row.ok,
        status_code=row.status_code,
        error=row.error,
    )


class AlertsMixin(StoreBase):
    """Alert rules, channels, alerts and deliveries. Part of ``Store``."""

    # ---- channels ---------------------------------------------------------------------

    async def create_channel(
        self,
        name: str,
        type: str,
        url: str,
        *,
        timeout: float,  # noqa: ASYNC109 - the channel's per-attempt timeout, stored
        max_attempts: int,
        backoff: float,
    ) -> AlertChannel:
        """Stores a channel.

        Raises:
            Conflict: a channel with this name exists.
        """
        row = AlertChannelRow(
            name=check.text(name, "name", 100, required=True),
            type=type,
            url=url,
            timeout=timeout,
            max_attempts=max_attempts,
            backoff=backoff,
            created_at=self._now(),
        )
        async with self._write(conflict=f"a channel named {name!r} exists") as session:
            session.add(row)
        return _channel(row)

    async def list_channels(self) -> list[AlertChannel]:
        """Every channel, oldest first."""
        async with self._read() as session:
            rows = await session.scalars(select(AlertChannelRow).order_by(AlertChannelRow.id))
            return [_channel(row) for row in rows]

    async def get_channel(self, channel_id: int) -> AlertChannel:
        """One channel. Raises ``NotFound``."""
        async with self._read() as session:
            row = await session.get(AlertChannelRow, channel_id)
        if row is None:
            raise NotFound(f"no alert channel with id {channel_id}")
        return _channel(row)

    async def update_channel(self, channel_id: int, **changes: Any) -> AlertChannel:
        """Changes some of ``name``, ``type``, ``url``, ``timeout``, ``max_attempts``,
        ``backoff`` (a URL not given stays as stored).

        Raises:
            NotFound: no such channel. Conflict: the new name is taken.
        """
        allowed = {"name", "type", "url", "timeout", "max_attempts", "backoff"}
        values = {k: v for k, v in changes.items() if k in allowed}
        if "name" in values:
            values["name"] = check.text(values["name"], "name", 100, required=True)
        async with self._write(conflict="a channel with this name exists") as session:
            if values:
                await session.execute(
                    update(AlertChannelRow).where(AlertChannelRow.id == channel_id).values(**values)
                )
            row = await session.get(AlertChannelRow, channel_id, populate_existing=True)
            if row is None:
                raise NotFound(f"no alert channel with id {channel_id}")
            return _channel(row)

    async def delete_channel(self, channel_id: int) -> None:
        """Deletes a channel (rules that named it stop sending there). Raises ``NotFound``."""
        async with self._write() as session:
            result = await session.execute(
                delete(AlertChannelRow).where(AlertChannelRow.id == channel_id)
            )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"no alert channel with id {channel_id}")

    # ---- rules ------------------------------------------------------------------------

    async def create_rule(
        self,
        name: str,
        kind: str,
        *,
        selector: Mapping[str, Any],
        params: Mapping[str, Any],
        channel_ids: Iterable[int],
        enabled: bool = True,
    ) -> AlertRule:
        """Stores a rule (the API validated its fields). Raises ``Conflict`` on a taken name."""
        now = self._now()
        row = AlertRuleRow(
            name=check.text(name, "name", 100, required=True),
            kind=kind,
            enabled=enabled,
            selector=dict(selector),
            params=dict(params),
            channel_ids=list(channel_ids),
            created_at=now,
            updated_at=now,
        )
        async with self._write(conflict=f"a rule named {name!r} exists") as session:
            session.add(row)
        return _rule(row)

    async def list_rules(self) -> list[AlertRule]:
        """Every rule, oldest first."""
        async with self._read() as session:
            rows = await session.scalars(select(AlertRuleRow).order_by(AlertRuleRow.id))
            return [_rule(row) for row in rows]

    async def get_rule(self, rule_id: int) -> AlertRule:
        """One rule. Raises ``NotFound``."""
        async with self._read() as session:
            row = await session.get(AlertRuleRow, rule_id)
        if row is None:
            raise NotFound(f"no alert rule with id {rule_id}")
        return _rule(row)

    async def update_rule(self, rule_id: int, **changes: Any) -> AlertRule:
        """Changes some of ``name``, ``enabled``, ``selector``, ``params``, ``channel_ids``.

        Raises:
            NotFound: no such rule. Conflict: the new name is taken.
        """
        allowed = {"name", "enabled", "selector", "params", "channel_ids"}
        values = {k: v for k, v in changes.items() if k in allowed}
        values["updated_at"] = self._now()
        async with self._write(conflict="a rule with this name exists") as session:
            result = await session.execute(
                update(AlertRuleRow).where(AlertRuleRow.id == rule_id).values(**values)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFound(f"no alert rule with id {rule_id}")
            row = await session.get(AlertRuleRow, rule_id, populate_existing=True)
            if row is None:
                raise NotFound(f"no alert rule with id {rule_id}")
            return _rule(row)

    async def delete_rule(self, rule_id: int) -> None:
        """Deletes a rule; its past alerts stay (without a rule id). Raises ``NotFound``."""
        async with self._write() as session:
            result = await session.execute(delete(AlertRuleRow).where(AlertRuleRow.id == rule_id))
        if not result.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"no alert rule with id {rule_id}")

    # ---- alerts -----------------------------------------------------------------------

    async def open_alert(
        self,
        rule_id: int,
        rule_name: str,
        kind: str,
        subject: str,
        *,
        node_id: str,
        container_id: str | None,
        container_name: str | None,
        summary: str,
        details: Mapping[str, Any],
    ) -> Alert:
        """Records a new firing incident of a rule about ``subject`` (without a rule id when
        the rule was deleted meanwhile: the incident still belongs in the history).

        This is the incident's claim: at most one incident of a rule about a subject is firing
        (a unique index), so of several coordinators on one database that see the same
        condition, one opens it and the others get ``Conflict`` (and deliver nothing).

        Raises:
            Conflict: an incident of this rule about ``subject`` is firing already.
        """
        row = AlertRow(
            rule_id=rule_id,
            rule_name=rule_name,
            kind=str(kind),
            subject=subject[:255],
            node_id=node_id,
            container_id=container_id,
            container_name=None if container_name is None else container_name[:255],
            state="firing",
            summary=summary,
            details=dict(details),
            fired_at=self._now(),
            resolved_at=None,
        )
        async with self._write(
            conflict=f"an incident of rule {rule_id} about {subject[:255]} is firing already"
        ) as session:
            if await session.get(AlertRuleRow, rule_id) is None:
                row.rule_id = None
            session.add(row)
        return _alert(row)

    async def firing_alert(self, rule_id: int, subject: str) -> Alert | None:
        """The firing incident of a rule about ``subject``, if there is one."""
        query = select(AlertRow).where(
            AlertRow.rule_id == rule_id,
            AlertRow.subject == subject[:255],
            AlertRow.state == "firing",
        )
        async with self._read() as session:
            row = (await session.scalars(query)).first()
        return None if row is None else _alert(row)

    async def resolve_alert(self, alert_id: int, details: Mapping[str, Any]) -> Alert:
        """Marks a firing incident resolved now, with ``details`` merged in.

        Only one caller resolves an incident: the update applies only while it is firing, so
        of several coordinators resolving it at once, one succeeds and the others get
        ``Conflict`` (and deliver nothing).

        Raises:
            NotFound: no such alert.
            Conflict: it is resolved already.
        """
        async with self._write() as session:
            row = await session.get(AlertRow, alert_id)
            if row is None:
                raise NotFound(f"no alert with id {alert_id}")
            merged = {**row.details, **details}
            done = await session.execute(
                update(AlertRow)
                .where(AlertRow.id == alert_id, AlertRow.state == "firing")
                .values(state="resolved", resolved_at=self._now(), details=merged)
                .execution_options(synchronize_session=False)
            )
            if done.rowcount == 0:  # type: ignore[attr-defined]
                raise Conflict(f"alert {alert_id} is resolved already")
            await session.refresh(row)
            return _alert(row)

    async def list_alerts(
        self,
        *,
        state: str | None = None,
        rule_id: int | None = None,
        node_id: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[Alert]:
        """Alerts matching every given filter, newest first; page with ``before_id``."""
        query = select(AlertRow).order_by(AlertRow.id.desc())
        query = query.limit(check.limit(limit, MAX_ALERT_PAGE))
        for column, value in (
            (AlertRow.state, state),
            (AlertRow.rule_id, rule_id),
            (AlertRow.node_id, node_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if before_id is not None:
            query = query.where(AlertRow.id < before_id)
        async with self._read() as session:
            return [_alert(row) for row in await session.scalars(query)]

    async def record_delivery(
        self,
        alert_id: int,
        channel_id: int,
        event: str,
        attempt: int,
        *,
        status_code: int | None,
        error: str | None,
    ) -> AlertDelivery:
        """Records one delivery attempt; ``ok`` when it got a 2xx answer."""
        ok = error is None and status_code is not None and 200 <= status_code < 300
        row = AlertDeliveryRow(
            alert_id=alert_id,
            channel_id=channel_id,
            event=event,
            attempt=attempt,
            time=self._now(),
            ok=ok,
            status_code=status_code,
            error=None if error is None else error[:255],
        )
        async with self._write() as session:
            session.add(row)
        return _delivery(row)

    async def deliveries_of(self, alert_ids: Iterable[int]) -> dict[int, list[AlertDelivery]]:
        """The delivery attempts of each alert, oldest first."""
        ids = list(alert_ids)
        found: dict[int, list[AlertDelivery]] = {i: [] for i in ids}
        if not ids:
            return found
        query = (
            select(AlertDeliveryRow)
            .where(AlertDeliveryRow.alert_id.in_(ids))
            .order_by(AlertDeliveryRow.id)
        )
        async with self._read() as session:
            for row in await session.scalars(query):
                found[row.alert_id].append(_delivery(row))
        return found

"""The audit log: every mutating action, who did it, where, when, and how it went."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import delete, select

from docklord.errors import InvalidInput
from docklord.store import _validate as check
from docklord.store._db import StoreBase
from docklord.store._models import AuditRow
from docklord.store._types import AuditEntry

__all__ = ["MAX_AUDIT_PAGE", "AuditMixin", "AuditObserver"]

log = structlog.get_logger(__name__)

#: Called with each entry once it is committed (the live feed of the events stream).
AuditObserver = Callable[[AuditEntry], None]

#: The largest ``limit`` of one ``list_audit`` page.
MAX_AUDIT_PAGE = 1000


def _to_entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        time=row.time,
        actor=row.actor,
        action=row.action,
        target_node=row.target_node,
        target=row.target,
        params=None if row.params is None else dict(row.params),
        result=row.result,
        source_addr=row.source_addr,
    )


class AuditMixin(StoreBase):
    """The audit log. Part of ``Store``.

    ``audit_observers`` are called, in this process, with every entry :meth:`record` has
    committed; they must not block (the coordinator's pushes the entry to the admins' events
    streams).
    """

    audit_observers: list[AuditObserver]

    async def record(
        self,
        actor: str,
        action: str,
        *,
        target_node: str | None = None,
        target: str | None = None,
        params: Mapping[str, Any] | None = None,
        result: str = "ok",
        source_addr: str | None = None,
    ) -> AuditEntry:
        """Writes one audit entry; it is committed when this returns.

        Args:
            actor: who, e.g. ``"user:alice"``, ``"token:3"``, ``"node:abc"``.
            action: what, e.g. ``"container.stop"``.
            target_node: the node acted on.
            target: the object acted on.
            params: the action's parameters, JSON-able. The caller strips secrets; as a second
                line of defence, values under keys such as ``password``, ``secret`` or
                ``token`` are replaced by ``"***"``.
            result: ``"ok"`` or ``"error: <code>"``.
            source_addr: the client's address.

        Raises:
            InvalidInput: a value is malformed or too long, or ``params`` is not JSON-able.
        """
        row = AuditRow(
            time=self._now(),
            actor=check.text(actor, "actor", 255, required=True),
            action=check.text(action, "action", 100, required=True),
            target_node=check.text(target_node, "target_node", 128),
            target=check.text(target, "target", 255),
            params=check.audit_params(params),
            result=check.text(result, "result", 255, required=True),
            source_addr=check.text(source_addr, "source_addr", 64),
        )
        async with self._write() as session:
            session.add(row)
        entry = _to_entry(row)
        for observe in self.audit_observers:
            try:
                observe(entry)
            except Exception as exc:
                # The entry is written; a failing observer must not fail the audited action.
                log.error("audit.observer_failed", error=repr(exc), exc_info=exc)
        return entry

    async def list_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target_node: str | None = None,
        result: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[AuditEntry]:
        """Audit entries matching every given filter, newest first.

        Pages by key, not offset: pass the last (smallest) ``id`` of a page as ``before_id``
        to get the next one; entries written meanwhile never shift the pages.

        Args:
            actor: only this actor.
            action: only this action.
            target_node: only actions on this node.
            result: ``"ok"`` (only successes) or ``"error"`` (only failures, whatever code).
            since: only entries at or after this instant (aware).
            until: only entries before this instant (aware).
            limit: the page size, 1 to ``MAX_AUDIT_PAGE``.
            before_id: only entries with a smaller id.

        Raises:
            InvalidInput: a value is malformed.
        """
        query = select(AuditRow).order_by(AuditRow.id.desc())
        query = query.limit(check.limit(limit, MAX_AUDIT_PAGE))
        for column, value in (
            (AuditRow.actor, actor),
            (AuditRow.action, action),
            (AuditRow.target_node, target_node),
        ):
            if value is not None:
                query = query.where(column == value)
        if result == "ok":
            query = query.where(AuditRow.result == "ok")
        elif result == "error":
            query = query.where(AuditRow.result.startswith("error", autoescape=True))
        elif result is not None:
            raise InvalidInput("result must be ok or error", details={"field": "result"})
        if since is not None:
            query = query.where(AuditRow.time >= check.aware(since, "since"))
        if until is not None:
            query = query.where(AuditRow.time < check.aware(until, "until"))
        if before_id is not None:
            query = query.where(AuditRow.id < before_id)
        async with self._read() as session:
            return [_to_entry(row) for row in await session.scalars(query)]

    async def prune_audit(self, before: datetime) -> int:
        """Deletes the entries older than ``before`` (retention). Returns how many went."""
        query = delete(AuditRow).where(AuditRow.time < check.aware(before, "before"))
        async with self._write() as session:
            result = await session.execute(query)
        return int(result.rowcount)  # type: ignore[attr-defined]

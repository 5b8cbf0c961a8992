from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import structlog
from starlette.requests import HTTPConnection

from docklord.errors import DocklordError
from docklord.web._auth import Principal
from docklord.web._deps import coordinator_of

__all__ = ["Audited", "audit", "audited"]

log = structlog.get_logger(__name__)


async def audit(
    conn: HTTPConnection,
    principal: Principal | None,
    action: str,
    *,
    node: str | None = None,
    target: str | None = None,
    params: Mapping[str, Any] | None = None,
    error: DocklordError | None = None,
) -> None:
    """Write one audit entry: who, what, where, with which parameters, and how it ended.

    ``params`` must not hold secrets (the store masks well-known secret keys as a backstop).
    Call it after the action, with ``error`` set when the action failed.
    """
    store = coordinator_of(conn).store
    await store.record(
        principal.actor if principal else "anonymous",
        action,
        target_node=node,
        target=target,
        params=dict(params) if params else None,
        result="ok" if error is None else f"error: {error.code}",
        source_addr=conn.client.host if conn.client else None,
    )


@dataclasses.dataclass
class Audited:
    """The audit entry being written for one action; set ``target`` once it is known."""

    target: str | None


@asynccontextmanager
async def audited(
    request: HTTPConnection,
    principal: Principal,
    action: str,
    *,
    node: str | None = None,
    target: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> AsyncIterator[Audited]:
    """Run the block as one audited action: the entry records how it ended, then errors go on.

    Args:
        request: the request or WebSocket (for the store and the client address).
        principal: who acts.
        action: the audit action, e.g. ``container.start``.
        node: the node acted on.
        target: what is acted on, as far as known before the block runs.
        params: the parameters of the action, without secrets.
    """
    entry = Audited(target)
    try:
        yield entry
    except Exception as exc:
        error = (
            exc if isinstance(exc, DocklordError) else DocklordError(f"internal error ({exc!r})")
        )
        await audit(
            request, principal, action, node=node, target=entry.target, params=params, error=error
        )
        raise
    await audit(request, principal, action, node=node, target=entry.target, params=params)

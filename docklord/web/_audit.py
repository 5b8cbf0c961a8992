from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from starlette.requests import HTTPConnection

from docklord.errors import DocklordError
from docklord.web._auth import Principal

__all__ = ["audit"]

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
    store = conn.app.state.coordinator.store
    await store.record(
        principal.actor if principal else "anonymous",
        action,
        target_node=node,
        target=target,
        params=dict(params) if params else None,
        result="ok" if error is None else f"error: {error.code}",
        source_addr=conn.client.host if conn.client else None,
    )

"""Live authenticated connections, so that revoking credentials closes them at once.

A stream registers for as long as it runs (``async with live_socket(ws, principal):``, see
``docklord.web._auth``) under the keys of the credentials that opened it; revoking a token,
ending a session, changing a user or revoking a node interrupts every stream registered under
that key, and each closes with ``4401`` and the reason.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from docklord.web._principal import Principal

__all__ = ["REVOKED_CLOSE", "LiveSocket", "LiveSockets"]

log = structlog.get_logger(__name__)

#: Close code for a stream whose credentials were revoked or expired.
REVOKED_CLOSE = 4401


class LiveSockets:
    """The live authenticated connections, by the keys of the credentials that opened them.

    Keys are ``token:<id>``, ``session:<id>``, ``user:<id>`` and ``node:<id>`` (see
    :attr:`Principal.keys`). :meth:`revoke` interrupts every connection registered under any of
    the given keys; each closes with code ``4401`` at once.
    """

    def __init__(self) -> None:
        self._by_key: dict[str, set[LiveSocket]] = {}

    def track(self, principal: Principal, ws: WebSocket | None = None) -> LiveSocket:
        """An async context manager around a stream authenticated as ``principal``."""
        return LiveSocket(self, principal, ws)

    def revoke(self, *keys: str, reason: str = "credentials revoked") -> int:
        """Interrupt every live connection under any of ``keys``; returns how many."""
        victims = {live for key in keys for live in self._by_key.get(key, ())}
        for live in victims:
            live.interrupt(reason)
        if victims:
            log.info("live connections closed", count=len(victims), reason=reason)
        return len(victims)

    def __len__(self) -> int:
        return len({live for group in self._by_key.values() for live in group})

    def connections(self) -> set[LiveSocket]:
        """Every live connection (for ``/metrics``)."""
        return {live for group in self._by_key.values() for live in group}

    def _add(self, live: LiveSocket) -> None:
        for key in live.principal.keys:
            self._by_key.setdefault(key, set()).add(live)

    def _remove(self, live: LiveSocket) -> None:
        for key in live.principal.keys:
            group = self._by_key.get(key)
            if group is not None:
                group.discard(live)
                if not group:
                    del self._by_key[key]


@dataclass(eq=False)
class LiveSocket:
    """One registered connection; interrupting it cancels the body of its ``async with``.

    When the credentials are revoked (or expire) the body is cancelled, the cancellation is
    absorbed on exit, and the WebSocket is closed with ``4401`` and the reason.
    """

    registry: LiveSockets
    principal: Principal
    ws: WebSocket | None
    reason: str | None = None
    _task: asyncio.Task[Any] | None = field(default=None, repr=False)
    _timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    async def __aenter__(self) -> LiveSocket:
        self._task = asyncio.current_task()
        self.registry._add(self)
        expires = self.principal.expires_at
        if expires is not None:
            delay = max(0.0, (expires - datetime.now(UTC)).total_seconds())
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(delay, self.interrupt, "credentials expired")
        return self

    def interrupt(self, reason: str) -> None:
        """Stop the stream because its credentials no longer hold."""
        if self.reason is not None or self._task is None:
            return
        self.reason = reason
        self._task.cancel(reason)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        # Unregister before any await: an interrupt can then only land inside the body.
        self.registry._remove(self)
        if self._timer is not None:
            self._timer.cancel()
        if self.reason is None or self._task is None:
            return False
        if self._task.uncancel() > 0:
            return False  # cancelled from elsewhere too (shutdown): let that through
        await self._close()
        return exc_type is None or issubclass(exc_type, asyncio.CancelledError)

    async def _close(self) -> None:
        ws = self.ws
        if ws is None or ws.application_state is not WebSocketState.CONNECTED:
            return
        try:
            await ws.close(REVOKED_CLOSE, (self.reason or "")[:120])
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            log.debug("closing a revoked stream failed", error=str(exc))

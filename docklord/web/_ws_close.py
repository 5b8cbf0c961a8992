"""How a WebSocket route closes: the one mapping from the error tree to close codes.

``1000`` when a stream ended; ``4400`` bad request; otherwise ``4000 + status`` (``4401``
unauthenticated or revoked, ``4403`` forbidden, ``4404`` no such node or container, ``4409``
not running or ambiguous, ``4502`` engine error, ``4503`` node offline, ``4504`` timeout), and
``4500`` only for an error without a 4xx/5xx status. ``4408``: the client read too slowly.
Every socket route closes through :func:`close_ws`, so the events socket and the container
streams cannot disagree about what an error is called.
"""

from __future__ import annotations

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from docklord.errors import DocklordError, InvalidInput

__all__ = ["TOO_SLOW", "close_code", "close_ws"]

log = structlog.get_logger(__name__)

#: The client did not read fast enough (its queue overflowed).
TOO_SLOW = 4408
#: WebSocket close reasons must fit in a control frame (123 bytes).
_MAX_REASON = 120


def close_code(exc: DocklordError) -> int:
    """The WebSocket close code for an error (see the module docstring)."""
    if isinstance(exc, InvalidInput):
        return 4400
    return 4000 + exc.status if 400 <= exc.status < 600 else 4500


async def close_ws(ws: WebSocket, exc: DocklordError | None = None) -> None:
    """Close ``ws`` (accepting it first if needed): 1000, or the code for ``exc``."""
    code, reason = 1000, ""
    if exc is not None:
        code = close_code(exc)
        reason = exc.message.encode()[:_MAX_REASON].decode(errors="ignore")
    try:
        if ws.client_state is WebSocketState.CONNECTING:
            await ws.accept()
        if ws.application_state is WebSocketState.CONNECTED:
            await ws.close(code=code, reason=reason)
    except (WebSocketDisconnect, RuntimeError, OSError) as err:
        log.debug("stream.close_failed", error=str(err))

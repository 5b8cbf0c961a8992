"""The documented LittleWings socket: ``/api/ws``, kept working as written there.

Authenticate with ``Authorization: Bearer TOKEN`` (or ``?token=``); the operator role is needed
because commands run in containers. Client messages and the replies:

- ``{"type": "connect", "server_id": "<id | prefix | name | node/container>"}`` →
  ``{"type": "connected", "node_id", "container": {summary}}``, then every line the container
  writes from then on as ``{"type": "log", "data": "<line>"}`` (``{"type": "log_end"}`` when its
  output ends). A new ``connect`` replaces the previous container.
- ``{"type": "command", "command": "<text>"}`` → runs ``["sh", "-c", text]`` in the container
  (the text is one argument of ``sh`` there, never part of a host shell) and answers
  ``{"type": "output", "command", "exit_code", "stdout", "stderr", "timed_out"}``. Commands
  run one at a time, in order, without holding up heartbeats or logs.
- ``{"type": "heartbeat"}`` → ``{"type": "heartbeat_ack"}``; it renews the session. A session
  without one for the heartbeat window (60 s, or ``?heartbeat=SECONDS``, 1 to 300) gets
  ``{"type": "heartbeat_reminder"}`` after two thirds of it, then ``{"type": "expired"}`` and
  the socket closes with code 4000.
- Anything else (bad JSON, too long or too deeply nested, an unknown type, a command before
  connect) → ``{"type": "error", "message"}``; the socket stays open (messages are read by
  :mod:`docklord.web._client_messages`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import structlog
from fastapi import APIRouter
from starlette.websockets import WebSocket, WebSocketDisconnect

from docklord._aio import first_of
from docklord.coordinator import container_json
from docklord.errors import DocklordError, InvalidInput, NotFound
from docklord.link import Channel
from docklord.protocol import COMMAND_TIMEOUT, MAX_COMMAND, STDERR, STDOUT, methods
from docklord.web._audit import audit
from docklord.web._auth import Principal, Role, authorize, live_socket, websocket_policy
from docklord.web._client_messages import receive_message
from docklord.web._container_policy import may_reach
from docklord.web._containers import check_text
from docklord.web._deps import coordinator_of
from docklord.web._relay import LineSplitter, open_stream
from docklord.web._ws_close import close_ws

__all__ = ["EXPIRED_CLOSE", "HEARTBEAT_TIMEOUT", "heartbeat_window", "router"]

log = structlog.get_logger(__name__)

router = APIRouter()

#: Seconds a session lives without a heartbeat, unless ``?heartbeat=`` says otherwise.
HEARTBEAT_TIMEOUT = 60.0
#: The close code of a session that expired.
EXPIRED_CLOSE = 4000
#: Lines of the log already written that a connect may replay when they are newer than it.
_CATCH_UP_TAIL = 1000


def heartbeat_window(raw: str | None) -> float:
    """The heartbeat window from ``?heartbeat=`` (clamped to 1..300 s), else the default.

    Raises:
        InvalidInput: the value is not a number.
    """
    if raw is None or raw == "":
        return HEARTBEAT_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError as exc:
        raise InvalidInput("heartbeat must be a number of seconds (1 to 300)") from exc
    if seconds != seconds:  # NaN
        raise InvalidInput("heartbeat must be a number of seconds (1 to 300)")
    return min(300.0, max(1.0, seconds))


@router.websocket("/api/ws")
@websocket_policy(Role.OPERATOR)
async def littlewings(ws: WebSocket) -> None:
    """The LittleWings socket: follow a container's logs, run commands, keep alive."""
    try:
        principal = await authorize(ws, Role.OPERATOR)
        window = heartbeat_window(ws.query_params.get("heartbeat"))
    except DocklordError as exc:
        await close_ws(ws, exc)
        return
    await ws.accept()
    async with live_socket(ws, principal):
        await _Session(ws, principal, window).run()


class _Session:
    """One client of ``/api/ws``: its container, its log stream and its heartbeat clock."""

    def __init__(self, ws: WebSocket, principal: Principal, window: float) -> None:
        self.ws = ws
        self.principal = principal
        self.window = window
        self.coordinator = coordinator_of(ws)
        self.target: tuple[str, str] | None = None  # (node id, container id)
        self.last_beat = asyncio.get_running_loop().time()
        self.beat = asyncio.Event()
        self.commands: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue(100)
        self.follower: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()

    async def run(self) -> None:
        try:
            await first_of(self._read(), self._watchdog(), self._run_commands())
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            log.debug("littlewings.client_left", error=str(exc))
        finally:
            await self._stop_following()

    async def send(self, message: dict[str, Any]) -> None:
        async with self.lock:
            await self.ws.send_text(json.dumps(message))

    async def error(self, message: str, **extra: Any) -> None:
        await self.send({"type": "error", "message": message, **extra})

    # ---- incoming messages ---------------------------------------------------------------

    async def _read(self) -> None:
        while True:
            try:
                message = await receive_message(self.ws)
                if message is None:
                    return
                await self._handle(message)
            except DocklordError as exc:
                await self.error(exc.message)

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "heartbeat":
            self.last_beat = asyncio.get_running_loop().time()
            self.beat.set()
            await self.send({"type": "heartbeat_ack"})
        elif kind == "connect":
            await self._connect(message.get("server_id"))
        elif kind == "command":
            self._enqueue(message.get("command"))
        else:
            raise InvalidInput(f"unknown message type {kind!r}")

    async def _connect(self, server_id: Any) -> None:
        if not isinstance(server_id, str) or not server_id.strip():
            raise InvalidInput("connect needs a server_id (a container id, name or node/name)")
        node_id, summary = self.coordinator.fleet.resolve_anywhere(server_id.strip())
        if not self.principal.may_see(node_id) or not may_reach(
            self.principal, summary.labels, summary.name
        ):  # an instance is reachable through /api/v1/instances only
            raise NotFound(f"no such container: {server_id}")
        await self._stop_following()
        self.target = None
        # since="now" on the node's clock: every line written after "connected" arrives.
        args = methods.LogsArgs(summary.id, follow=True, since="now", tail=_CATCH_UP_TAIL)
        channel, _ = await open_stream(self.coordinator, node_id, methods.LOGS, args)
        self.target = (node_id, summary.id)
        await self.send(
            {"type": "connected", "node_id": node_id, "container": container_json(node_id, summary)}
        )
        self.follower = asyncio.create_task(self._follow(channel), name="littlewings-logs")

    def _enqueue(self, command: Any) -> None:
        if self.target is None:
            raise InvalidInput("send a connect message before a command")
        if not isinstance(command, str) or not command.strip() or len(command) > MAX_COMMAND:
            raise InvalidInput(f"a command is 1 to {MAX_COMMAND} characters of text")
        check_text("command", command)
        try:
            self.commands.put_nowait((*self.target, command))
        except asyncio.QueueFull as exc:
            raise InvalidInput("too many commands waiting; wait for their output") from exc

    # ---- logs ----------------------------------------------------------------------------

    async def _follow(self, channel: Channel) -> None:
        splitter = LineSplitter()
        try:
            while (item := await channel.receive()) is not None:
                if item[0] in (STDOUT, STDERR):
                    for line in splitter.feed(*item):
                        await self.send({"type": "log", "data": line})
            for _, lines in splitter.flush():
                for line in lines:
                    await self.send({"type": "log", "data": line})
            await self.send({"type": "log_end"})
        except DocklordError as exc:
            await self.error(f"log stream ended: {exc.message}")
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            log.debug("littlewings.logs_client_left", error=str(exc))
        finally:
            await channel.close()

    async def _stop_following(self) -> None:
        task, self.follower = self.follower, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # ---- commands ------------------------------------------------------------------------

    async def _run_commands(self) -> None:
        while True:
            node_id, container_id, command = await self.commands.get()
            await self.send(await self._command(node_id, container_id, command))

    async def _command(self, node_id: str, container_id: str, command: str) -> dict[str, Any]:
        args = methods.CommandArgs(ref=container_id, command=command, timeout=COMMAND_TIMEOUT)
        params = {"cmd": ["sh", "-c", command], "via": "littlewings"}
        try:
            result = await self.coordinator.call(
                node_id, methods.LITTLEWINGS_COMMAND, args, timeout=COMMAND_TIMEOUT + 10
            )
        except DocklordError as exc:
            await audit(
                self.ws,
                self.principal,
                "container.exec",
                node=node_id,
                target=container_id,
                params=params,
                error=exc,
            )
            return {"type": "error", "message": exc.message, "command": command}
        await audit(
            self.ws,
            self.principal,
            "container.exec",
            node=node_id,
            target=container_id,
            params=params,
        )
        return {"type": "output", "command": command, **result.to_json()}

    # ---- heartbeat -----------------------------------------------------------------------

    async def _watchdog(self) -> None:
        loop = asyncio.get_running_loop()
        reminded_for: float | None = None
        while True:
            idle = loop.time() - self.last_beat
            if idle >= self.window:
                await self.send({"type": "expired"})
                await self.ws.close(EXPIRED_CLOSE, "no heartbeat")
                return
            remind_at = self.window * 2 / 3
            if idle >= remind_at and reminded_for != self.last_beat:
                reminded_for = self.last_beat
                await self.send({"type": "heartbeat_reminder"})
            wake = remind_at if idle < remind_at else self.window
            self.beat.clear()
            # Wake at the next deadline, or earlier on a heartbeat, and look again.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wake - idle):
                    await self.beat.wait()

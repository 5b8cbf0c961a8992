"""An interactive command in a container through the coordinator (``.../exec/ws``): binary
frames carry stdin and output, text frames JSON control (resize, eof, exit)."""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.websockets import WebSocket

from docklord.errors import DocklordError, InvalidInput
from docklord.link import Channel
from docklord.protocol import CONTROL, EOF, PLAIN, control, methods, parse_control
from docklord.web._audit import audit
from docklord.web._auth import Principal, Role, authorize, live_socket, websocket_policy
from docklord.web._client_messages import parse_message
from docklord.web._containers import resolve
from docklord.web._deps import coordinator_of
from docklord.web._relay import open_stream, parse_query, relay
from docklord.web._ws_close import close_ws

__all__ = ["ExecQuery", "router"]

router = APIRouter(prefix="/api/v1/nodes/{node}")


class ExecQuery(BaseModel):
    """What ``.../exec/ws`` accepts."""

    cmd: list[Annotated[str, Field(max_length=100_000)]] = Field(min_length=1, max_length=256)
    tty: bool = True
    user: str | None = Field(None, max_length=256)
    workdir: str | None = Field(None, max_length=4096)
    rows: int | None = Field(None, ge=1, le=10_000)
    cols: int | None = Field(None, ge=1, le=10_000)


@router.websocket("/containers/{ref}/exec/ws")
@websocket_policy(Role.OPERATOR, node=True)
async def container_exec_ws(ws: WebSocket, node: str, ref: str) -> None:
    """An interactive command: binary frames are stdin/output, text frames JSON control."""
    try:
        principal = await authorize(ws, Role.OPERATOR, node=node)
        channel = await _start_exec(ws, principal, node, ref)
    except DocklordError as exc:
        await close_ws(ws, exc)
        return
    await ws.accept()
    lock = asyncio.Lock()
    async with live_socket(ws, principal):
        await relay(ws, channel, _exec_output(ws, channel, lock), _exec_input(ws, channel, lock))


async def _start_exec(ws: WebSocket, principal: Principal, node: str, ref: str) -> Channel:
    """Check the request, start the command on the node, and audit the attempt either way."""
    coordinator = coordinator_of(ws)
    params: dict[str, Any] = {"cmd": ws.query_params.getlist("cmd") or ["sh"]}
    record = functools.partial(
        audit, ws, principal, "container.exec_session", node=node, params=params
    )
    try:
        query = parse_query(ExecQuery, {**ws.query_params, **params})
        params.update(tty=query.tty, user=query.user, workdir=query.workdir)
        ref = await resolve(ws, principal, node, ref)
        args = methods.ExecSessionArgs(ref, **query.model_dump(exclude_none=True))
        channel, started = await open_stream(coordinator, node, methods.EXEC_SESSION, args)
    except DocklordError as exc:
        await record(target=ref, error=exc)
        raise
    params["exec_id"] = started.get("exec_id")
    await record(target=ref)
    return channel


async def _exec_output(ws: WebSocket, channel: Channel, lock: asyncio.Lock) -> None:
    while (item := await channel.receive()) is not None:
        stream, data = item
        async with lock:
            if stream != CONTROL:
                await ws.send_bytes(data)
            elif (message := parse_control(data))["type"] == "exit":
                await ws.send_text(json.dumps(message))


async def _exec_input(ws: WebSocket, channel: Channel, lock: asyncio.Lock) -> None:
    while (incoming := await ws.receive())["type"] != "websocket.disconnect":
        if incoming.get("bytes"):
            await channel.send(incoming["bytes"], PLAIN)
        elif incoming.get("text") is not None:
            try:
                await channel.send(_exec_control(incoming["text"]), CONTROL)
            except InvalidInput as exc:
                async with lock:
                    await ws.send_text(json.dumps({"type": "error", "message": exc.message}))


def _exec_control(text: str) -> bytes:
    """A client's control message, checked, as the node's control frame."""
    message = parse_message({"text": text})
    if message["type"] == "eof":
        return EOF
    if message["type"] != "resize":
        raise InvalidInput(f"unknown control message type {message['type']!r}")
    rows, cols = message.get("rows"), message.get("cols")
    for value in (rows, cols):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10_000:
            raise InvalidInput("resize needs integer rows and cols between 1 and 10000")
    return control({"type": "resize", "rows": rows, "cols": cols})

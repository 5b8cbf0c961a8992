"""A container's logs as a file to save: the filters of the log view, applied on the server.

``GET .../{ref}/logs/download`` streams the output line by line from the node's ``logs``
channel (its byte credit paces the engine read, so a log of any size passes through a
bounded buffer) and writes the lines that pass the filters. The regular expression is compiled
once per request; matching runs in a worker thread so that an expensive pattern slows only its
own download, never the event loop.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BeforeValidator, Field
from starlette.types import Receive, Scope, Send

from docklord.errors import DocklordError
from docklord.link import Channel
from docklord.protocol import STDERR, STDOUT, methods
from docklord.web._auth import Principal, Role, require_node
from docklord.web._containers import resolve
from docklord.web._deps import coordinator_of
from docklord.web._logs import LOGS_WINDOW, LogQuery, LogSelection
from docklord.web._relay import LineSplitter, open_stream

__all__ = ["MAX_MATCH", "DownloadQuery", "compile_match", "router"]

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/v1/nodes/{node}")

NodeViewer = Annotated[Principal, Depends(require_node(Role.VIEWER))]

#: The longest ``match`` pattern accepted (characters).
MAX_MATCH = 1000


def compile_match(value: Any) -> re.Pattern[str] | None:
    """The ``match`` parameter, compiled (``None`` when absent or empty).

    Raises:
        ValueError: too long, or not a regular expression (the API answers ``422``).
    """
    if value is None or value == "":
        return None
    if isinstance(value, re.Pattern):
        return value
    text = str(value)
    if len(text) > MAX_MATCH:
        raise ValueError(f"a match pattern is at most {MAX_MATCH} characters")
    try:
        return re.compile(text)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None


class DownloadQuery(LogSelection):
    """What ``.../logs/download`` accepts (all optional)."""

    match: Annotated[re.Pattern[str] | None, BeforeValidator(compile_match)] = Field(
        None,
        description="a Python regular expression: only the lines it finds something in"
        f" (searched in the text, not the timestamp); at most {MAX_MATCH} characters",
    )

    def channel_args(self, ref: str) -> methods.LogsArgs:
        """The node's ``logs`` channel arguments (a read without follow)."""
        fields = ("tail", "since", "until", "timestamps", "stdout", "stderr")
        return LogQuery(**{name: getattr(self, name) for name in fields}).channel_args(ref)


class _Truncated(Exception):
    """The node's stream failed after the status line: the file must not look complete."""


class DownloadResponse(StreamingResponse):
    """A file download that closes its channel however it ends, and that a failure cuts off
    (no final chunk) instead of ending it as if the log were complete."""

    def __init__(self, channel: Channel, body: AsyncIterator[bytes], filename: str) -> None:
        headers = {
            "Cache-Control": "no-cache",
            "Content-Disposition": f'attachment; filename="{filename}"',
        }
        super().__init__(body, media_type="text/plain; charset=utf-8", headers=headers)
        self.channel = channel

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except _Truncated:
            pass  # the server closes the connection: the client sees an incomplete body
        finally:
            await self.channel.close()


@router.get("/containers/{ref}/logs/download", response_class=StreamingResponse)
async def container_logs_download(
    node: str,
    ref: str,
    request: Request,
    principal: NodeViewer,
    query: Annotated[DownloadQuery, Query()],
) -> StreamingResponse:
    """A container's output as a text file (``Content-Disposition: attachment``), filtered.

    Bad parameters (a ``match`` that is no regular expression, or too long) answer ``422``.
    """
    coordinator = coordinator_of(request)
    args = query.channel_args(await resolve(request, principal, node, ref))
    channel, _ = await open_stream(coordinator, node, methods.LOGS, args, window=LOGS_WINDOW)
    filename = f"{ref.lstrip('/')}.log"
    body = _file_body(channel, query.match, query.timestamps)
    return DownloadResponse(channel, body, filename)


async def _file_body(
    channel: Channel, match: re.Pattern[str] | None, timestamps: bool
) -> AsyncIterator[bytes]:
    splitter = LineSplitter()
    try:
        while (item := await channel.receive()) is not None:
            lines = splitter.feed(*item) if item[0] in (STDOUT, STDERR) else []
            if lines and (data := await _kept(lines, match, timestamps)):
                yield data
    except DocklordError as exc:
        log.warning("logs.download_failed", code=exc.code, error=exc.message)
        raise _Truncated from exc
    for _, lines in splitter.flush():
        if data := await _kept(lines, match, timestamps):
            yield data


async def _kept(lines: list[str], match: re.Pattern[str] | None, timestamps: bool) -> bytes:
    if match is not None:
        lines = await asyncio.to_thread(_matching, lines, match, timestamps)
    return ("\n".join(lines) + "\n").encode() if lines else b""


def _matching(lines: list[str], match: re.Pattern[str], timestamps: bool) -> list[str]:
    if timestamps:
        # The engine's timestamp and one space start each line: search the text after it.
        return [line for line in lines if match.search(line[line.find(" ") + 1 :])]
    return [line for line in lines if match.search(line)]

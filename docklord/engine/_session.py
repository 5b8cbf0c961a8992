"""An interactive exec over a hijacked connection of its own.

aiodocker's exec stream cannot half-close (send EOF on stdin while still reading output), which
a terminal needs for ``close_stdin``; so the session speaks the upgrade request itself on a
fresh engine connection and then owns the raw byte stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from types import TracebackType
from typing import TYPE_CHECKING, Self

from docklord.engine._errors import error_for_status, translate_errors
from docklord.engine._frames import FrameDecoder
from docklord.errors import Conflict, EngineError
from docklord.model import LogChunk

if TYPE_CHECKING:
    from docklord.engine._client import EngineClient

__all__ = ["ExecSession"]

log = logging.getLogger(__name__)

_READ_SIZE = 64 * 1024


class ExecSession:
    """A running command with its stdin, stdout and stderr attached.

    Use it as ``async with await engine.exec_interactive(...) as session``. With a TTY all
    output comes as one stream; without one, :meth:`read_chunk` tells stdout from stderr.
    """

    def __init__(
        self,
        engine: EngineClient,
        exec_id: str,
        *,
        tty: bool,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self._engine = engine
        self._tty = tty
        self._reader = reader
        self._writer = writer
        self._decoder = None if tty else FrameDecoder()
        self._pending: deque[LogChunk] = deque()
        self._stdin_closed = False
        self._closed = False
        self.id = exec_id

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _start(self) -> None:
        """Send the upgrade request and read the engine's answer head."""
        body = json.dumps({"Detach": False, "Tty": self._tty}).encode()
        head = (
            f"POST /v{self._engine.api_version}/exec/{self.id}/start HTTP/1.1\r\n"
            "Host: docker\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
        )
        with translate_errors(self._engine.address, kind="exec", ref=self.id):
            self._writer.write(head.encode() + body)
            await self._writer.drain()
            status, length = await self._read_head()
            if status not in (101, 200):
                payload = await self._reader.readexactly(length) if length else b""
                raise error_for_status(status, _message(payload), kind="exec", ref=self.id)

    async def _read_head(self) -> tuple[int, int]:
        line = await self._reader.readline()
        parts = line.split(b" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise EngineError(f"the engine answered the exec upgrade with {line[:80]!r}")
        length = 0
        while (header := await self._reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        return int(parts[1]), length

    async def write(self, data: bytes) -> None:
        """Send bytes to the command's stdin.

        Raises:
            Conflict: stdin was closed (:meth:`close_stdin`) or the session is closed.
        """
        if self._stdin_closed or self._closed:
            raise Conflict("the stdin of this exec session is closed")
        with translate_errors(self._engine.address):
            self._writer.write(data)
            await self._writer.drain()

    async def read(self) -> bytes | None:
        """The next output bytes (stdout and stderr alike), or ``None`` at end of output."""
        chunk = await self.read_chunk()
        return None if chunk is None else chunk.data

    async def read_chunk(self) -> LogChunk | None:
        """The next output bytes with their stream, or ``None`` at end of output."""
        while not self._pending:
            with translate_errors(self._engine.address):
                data = await self._reader.read(_READ_SIZE)
            if not data:
                if self._decoder is not None:
                    self._decoder.finish()
                return None
            if self._decoder is None:
                return LogChunk("stdout", data)
            self._pending.extend(self._decoder.feed(data))
        return self._pending.popleft()

    async def resize(self, rows: int, cols: int) -> None:
        """Set the terminal size (TTY sessions; the command gets SIGWINCH)."""
        params = {"h": rows, "w": cols}
        await self._engine._json(
            "POST", f"exec/{self.id}/resize", params=params, kind="exec", ref=self.id
        )

    async def close_stdin(self) -> None:
        """Send end-of-file on stdin, keep reading output (a ``cat`` then exits)."""
        if self._stdin_closed or self._closed:
            return
        self._stdin_closed = True
        with translate_errors(self._engine.address):
            if self._writer.can_write_eof():
                self._writer.write_eof()

    async def exit_code(self) -> int | None:
        """The command's exit code, or ``None`` while it still runs."""
        info = await self._engine._json("GET", f"exec/{self.id}/json", kind="exec", ref=self.id)
        if info.get("Running") or info.get("ExitCode") is None:
            return None
        return int(info["ExitCode"])

    async def aclose(self) -> None:
        """Detach from the command and close the connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError as exc:
            # The engine may already have closed its side; nothing is lost by that.
            log.debug("exec session %s closed with %r", self.id, exc)


def _message(payload: bytes) -> str:
    try:
        return str(json.loads(payload).get("message", ""))
    except (ValueError, AttributeError):
        return payload.decode(errors="replace")

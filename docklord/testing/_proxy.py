"""A TCP proxy that a test controls, to put network faults between two real processes.

It runs its own event loop in a thread, so a test may call it from synchronous code or from a
coroutine alike, and it keeps forwarding while the test blocks. Modes:

- ``forward()``: bytes pass both ways (the start mode).
- ``delay(seconds)``: every chunk waits ``seconds`` before it is passed on, in order.
- ``blackhole()``: nothing passes; connections stay open and new ones are accepted, as in a
  network partition. Nothing read is thrown away: after ``heal()`` it flows on, as TCP would
  deliver it after a short outage, and a side that gave up meanwhile is seen closing then.
- ``drop()``: closes every connection now (both sides), and closes new ones at once until
  ``heal()``.
- ``heal()``: back to ``forward()``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["TcpProxy"]

T = TypeVar("T")
CHUNK = 65_536


@dataclass(eq=False)
class _Conn:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None

    def abort(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None:
                writer.transport.abort()


class TcpProxy:
    """Listens on 127.0.0.1 (a free port) and forwards to ``target_host:target_port``.

    Use as a context manager (or ``start()`` / ``close()``); ``port`` is the listening port.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        #: Connections accepted so far (a reconnecting client shows here).
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._conns: set[_Conn] = set()
        self._flowing: asyncio.Event | None = None
        self._delay = 0.0
        self._dropping = False

    # ---- control (any thread) -----------------------------------------------------------

    def start(self) -> TcpProxy:
        """Start listening; returns ``self``."""
        self._thread.start()
        self._call(self._listen())
        return self

    def forward(self) -> None:
        """Pass bytes both ways, at once."""
        self._call(self._set(flowing=True, delay=0.0, dropping=False))

    heal = forward

    def delay(self, seconds: float) -> None:
        """Pass bytes on after ``seconds``."""
        self._call(self._set(flowing=True, delay=seconds, dropping=False))

    def blackhole(self) -> None:
        """Pass nothing, close nothing."""
        self._call(self._set(flowing=False, delay=0.0, dropping=False))

    def drop(self) -> None:
        """Close every connection, and each new one at once, until ``heal()``."""
        self._call(self._set(flowing=True, delay=0.0, dropping=True))

    def close(self) -> None:
        """Stop listening, close every connection and the thread; idempotent."""
        if not self._thread.is_alive():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    # ---- the proxy's own loop -------------------------------------------------------------

    async def _listen(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _set(self, *, flowing: bool, delay: float, dropping: bool) -> None:
        assert self._flowing is not None
        self._delay, self._dropping = delay, dropping
        if dropping:
            for conn in list(self._conns):
                conn.abort()
        if flowing:
            self._flowing.set()
        else:
            self._flowing.clear()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            conn.abort()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        self.accepted += 1
        conn = _Conn(writer)
        self._conns.add(conn)
        try:
            if self._dropping:
                return
            await self._flowing.wait()
            try:
                up_reader, conn.upstream = await asyncio.open_connection(*self.target)
            except OSError:
                return
            await asyncio.gather(self._pump(reader, conn.upstream), self._pump(up_reader, writer))
        finally:
            self._conns.discard(conn)
            conn.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        try:
            while True:
                await self._flowing.wait()
                data = await reader.read(CHUNK)
                await self._flowing.wait()
                if not data:
                    break
                if self._delay:
                    await asyncio.sleep(self._delay)
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            # One side ended: end the other too, as a closed TCP connection would.
            writer.transport.abort()

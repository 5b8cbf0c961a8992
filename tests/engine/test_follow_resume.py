"""A log follow that the engine ends early is resumed: each line exactly once.

Docker 20.10 at times ends a follow for a slow reader with a normal end of stream (issue 9:
10,981 of 30,000 lines). That is rare on demand, so here the real engine's answer is cut
short after a whole number of frames, the way the engine ends it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from docklord.engine import Engine
from docklord.testing import eventually

from ._support import MakeContainer

LINES = 3000


class _CutContent:
    def __init__(self, content: aiohttp.StreamReader, frames: int) -> None:
        self._content, self._frames = content, frames

    async def iter_any(self) -> AsyncIterator[bytes]:
        pending = bytearray()
        async for data in self._content.iter_any():
            pending += data
            pos = 0
            while len(pending) - pos >= 8 and self._frames:
                size = int.from_bytes(pending[pos + 4 : pos + 8], "big")
                if len(pending) - pos < 8 + size:
                    break
                pos += 8 + size
                self._frames -= 1
            yield bytes(pending[:pos])
            del pending[:pos]
            if not self._frames:
                return  # a normal end of stream, after a whole frame


class _Cut:
    def __init__(self, response: aiohttp.ClientResponse, frames: int) -> None:
        self.content = _CutContent(response.content, frames)


class EndsFollowsEarly(Engine):
    """The real engine, but its first ``cuts`` follow answers end after ``frames`` frames."""

    def __init__(self, docker_host: str, *, cuts: int, frames: int) -> None:
        super().__init__(docker_host)
        self.cuts, self.frames = cuts, frames

    @asynccontextmanager
    async def _stream(  # type: ignore[override]
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, **kw: Any
    ) -> AsyncIterator[Any]:
        async with super()._stream(method, path, params=params, **kw) as response:
            if path.endswith("/logs") and (params or {}).get("follow") and self.cuts:
                self.cuts -= 1
                yield _Cut(response, self.frames)
            else:
                yield response


async def _follow(engine: Engine, ref: str, lines: int) -> list[bytes]:
    got = b""
    async with asyncio.timeout(30):
        async for chunk in engine.logs(ref, follow=True):
            got += chunk.data
            if got.count(b"\n") >= lines:
                break
    return got.splitlines()


async def test_a_follow_of_a_running_container_resumes_after_an_early_end(
    docker_host: str, make_container: MakeContainer
) -> None:
    ref = await make_container(["sh", "-c", f"seq 1 {LINES}; exec sleep 600"])
    async with EndsFollowsEarly(docker_host, cuts=2, frames=1000) as engine:
        await _wait_printed(engine, ref)
        got = await _follow(engine, ref, LINES)
        assert engine.cuts == 0
    assert got == [str(i).encode() for i in range(1, LINES + 1)]


async def test_a_follow_of_an_exited_container_gets_the_rest_after_an_early_end(
    docker_host: str, make_container: MakeContainer
) -> None:
    ref = await make_container(["sh", "-c", f"seq 1 {LINES}"])
    async with EndsFollowsEarly(docker_host, cuts=1, frames=1234) as engine:
        await _wait_printed(engine, ref)
        got = await _follow(engine, ref, LINES + 1)  # ends with the stream
    assert got == [str(i).encode() for i in range(1, LINES + 1)]


async def _wait_printed(engine: Engine, ref: str) -> None:
    async def printed() -> bool:
        return b"".join([c.data async for c in engine.logs(ref)]).count(b"\n") >= LINES

    await eventually(printed, timeout=20, what=f"{LINES} lines written")

"""Logs: demultiplexing, options, TTY containers, follow until exit, high volume."""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing

import pytest

from docklord.engine import Engine
from docklord.engine._frames import FrameDecoder
from docklord.engine._parse import parse_time
from docklord.errors import EngineError, InvalidInput, NotFound
from docklord.model import LogChunk
from docklord.testing import eventually, unique_name

from ._support import MakeContainer

BOTH = "echo out1; echo err1 >&2; echo out2; echo err2 >&2; sleep 3600"


async def _collect(engine: Engine, ref: str, **options: object) -> list[LogChunk]:
    return [chunk async for chunk in engine.logs(ref, **options)]  # type: ignore[arg-type]


def _by_stream(chunks: list[LogChunk]) -> dict[str, bytes]:
    joined: dict[str, bytes] = {"stdout": b"", "stderr": b""}
    for chunk in chunks:
        joined[chunk.stream] += chunk.data
    return joined


async def _printed(engine: Engine, ref: str, lines: int) -> bool:
    return sum(c.data.count(b"\n") for c in await _collect(engine, ref)) >= lines


async def test_stdout_and_stderr_are_told_apart(
    engine: Engine, make_container: MakeContainer
) -> None:
    ref = await make_container(["sh", "-c", BOTH])
    await eventually(lambda: _printed(engine, ref, 4), what="four lines of output")
    assert _by_stream(await _collect(engine, ref)) == {
        "stdout": b"out1\nout2\n",
        "stderr": b"err1\nerr2\n",
    }
    assert _by_stream(await _collect(engine, ref, stderr=False)) == {
        "stdout": b"out1\nout2\n",
        "stderr": b"",
    }
    only_err = await _collect(engine, ref, stdout=False)
    assert {c.stream for c in only_err} == {"stderr"}
    tail = await _collect(engine, ref, tail=1)
    assert b"".join(c.data for c in tail) in (b"out2\n", b"err2\n")
    stamped = b"".join(c.data for c in await _collect(engine, ref, timestamps=True, stderr=False))
    first = stamped.split(b"\n")[0]
    assert first.endswith(b" out1") and first[:4].isdigit() and b"T" in first[:20]
    with pytest.raises(InvalidInput):
        await _collect(engine, ref, stdout=False, stderr=False)


async def test_since_and_until_select_by_time(
    engine: Engine, make_container: MakeContainer
) -> None:
    ref = await make_container(["sh", "-c", "echo early; sleep 1.2; echo late; sleep 3600"])
    await eventually(lambda: _printed(engine, ref, 2), what="two lines", timeout=10)
    stamped = b"".join(c.data for c in await _collect(engine, ref, timestamps=True))
    late_line = next(line for line in stamped.splitlines() if line.endswith(b" late"))
    late_time = _rfc3339(late_line.split(b" ")[0].decode())
    after = await _collect(engine, ref, since=late_time - 0.5)
    assert b"".join(c.data for c in after) == b"late\n"
    before = await _collect(engine, ref, until=late_time - 0.5)
    assert b"".join(c.data for c in before) == b"early\n"


async def test_tty_container_logs_are_all_stdout(
    engine: Engine, make_container: MakeContainer
) -> None:
    ref = await make_container(["sh", "-c", BOTH], tty=True)
    await eventually(lambda: _printed(engine, ref, 4), what="four lines of output")
    chunks = await _collect(engine, ref)
    assert {c.stream for c in chunks} == {"stdout"}
    assert b"".join(c.data for c in chunks).replace(b"\r\n", b"\n") == b"out1\nerr1\nout2\nerr2\n"


async def test_follow_ends_when_the_container_exits(
    engine: Engine, make_container: MakeContainer
) -> None:
    ref = await make_container(["sh", "-c", "echo ready; read x; echo bye"], open_stdin=True)
    received = bytearray()

    async def follow() -> None:
        async for chunk in engine.logs(ref, follow=True):
            received.extend(chunk.data)

    async with asyncio.timeout(15), asyncio.TaskGroup() as group:
        task = group.create_task(follow())
        await eventually(lambda: _contains(received, b"ready\n"), what="the first line")
        assert not task.done()
        await engine.kill(ref, signal="SIGKILL")
    # Leaving the group means the follow loop ended by itself, without an error.
    assert received == b"ready\n"


async def test_follow_200k_lines_arrive_once_and_in_order(
    engine: Engine, make_container: MakeContainer
) -> None:
    script = "echo ready; while [ ! -e /tmp/go ]; do sleep 0.01; done; seq 1 200000"
    ref = await make_container(["sh", "-c", script])
    data = bytearray()
    started = time.monotonic()
    async with aclosing(engine.logs(ref, follow=True)) as chunks:
        async for chunk in chunks:
            assert chunk.stream == "stdout"
            data.extend(chunk.data)
            if data == b"ready\n":
                # The follow stream is open and the container runs: start the flood now.
                assert (await engine.exec_run(ref, ["touch", "/tmp/go"])).exit_code == 0
    elapsed = time.monotonic() - started
    lines = bytes(data).split(b"\n")
    assert lines[0] == b"ready" and lines[-1] == b""
    assert lines[1:-1] == [str(i).encode() for i in range(1, 200_001)]
    assert elapsed < 30, f"200k lines took {elapsed:.1f}s"


async def test_breaking_out_of_a_follow_closes_it(
    engine: Engine, make_container: MakeContainer
) -> None:
    ref = await make_container(["sh", "-c", "while :; do echo tick; sleep 0.05; done"])
    async with aclosing(engine.logs(ref, follow=True)) as chunks:
        async for chunk in chunks:
            assert chunk.data.startswith(b"tick")
            break
    assert (await engine.get_summary(ref)).state == "running"


async def test_logs_of_unknown_container(engine: Engine) -> None:
    missing = unique_name("missing")
    with pytest.raises(NotFound, match=f"no such container: {missing}"):
        await _collect(engine, missing)


def test_frame_decoder_handles_split_and_merged_frames() -> None:
    def frame(stream: int, data: bytes) -> bytes:
        return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data

    wire = (
        frame(1, b"a\n") + frame(1, b"b\n") + frame(2, b"oops\n") + frame(1, b"") + frame(1, b"c")
    )
    decoder = FrameDecoder()
    chunks: list[LogChunk] = []
    for i in range(0, len(wire), 3):  # worst case: headers and payloads cut anywhere
        chunks.extend(decoder.feed(wire[i : i + 3]))
    decoder.finish()
    assert _by_stream(chunks) == {"stdout": b"a\nb\nc", "stderr": b"oops\n"}
    whole = FrameDecoder().feed(wire)
    assert whole == [
        LogChunk("stdout", b"a\nb\n"),
        LogChunk("stderr", b"oops\n"),
        LogChunk("stdout", b"c"),
    ]
    partial = FrameDecoder()
    partial.feed(wire[:5])
    with pytest.raises(EngineError, match="inside a frame"):
        partial.finish()


async def _contains(buffer: bytearray, needle: bytes) -> bool:
    return needle in buffer


def _rfc3339(text: str) -> float:
    value = parse_time(text)
    assert value is not None
    return value

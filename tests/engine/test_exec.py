"""Exec: one-shot commands (with timeouts) and interactive sessions."""

from __future__ import annotations

import asyncio
import time

import pytest

from docklord.engine import Engine, ExecSession
from docklord.errors import Conflict, InvalidInput, NotFound
from docklord.testing import eventually, unique_name

from ._support import MakeContainer


async def test_exec_run_collects_output_and_exit_code(
    engine: Engine, make_container: MakeContainer
) -> None:
    ref = await make_container()
    result = await engine.exec_run(ref, ["sh", "-c", "echo out; echo err >&2; exit 7"])
    assert (result.exit_code, result.stdout, result.stderr) == (7, b"out\n", b"err\n")
    assert not result.timed_out
    options = await engine.exec_run(
        ref,
        ["sh", "-c", 'echo "$GREETING|$(pwd)|$(id -u)"'],
        env={"GREETING": "hi there"},
        workdir="/tmp",
        user="1234",
    )
    assert options.stdout == b"hi there|/tmp|1234\n" and options.exit_code == 0
    big = await engine.exec_run(ref, ["seq", "1", "100000"])
    assert big.stdout.split(b"\n")[:-1] == [str(i).encode() for i in range(1, 100_001)]


async def test_exec_timeout_terminates_only_that_exec(
    engine: Engine, make_container: MakeContainer
) -> None:
    ref = await make_container()
    async with asyncio.TaskGroup() as group:
        other = group.create_task(engine.exec_run(ref, ["sh", "-c", "sleep 1.5; echo done"]))
        started = time.monotonic()
        slow = await engine.exec_run(
            ref, ["sh", "-c", "echo begun; sleep 30; echo never"], timeout=0.5
        )
        assert time.monotonic() - started < 5
    assert slow.timed_out and slow.stdout == b"begun\n" and slow.exit_code is None
    finished = other.result()
    assert (finished.exit_code, finished.stdout, finished.timed_out) == (0, b"done\n", False)
    assert (await engine.get_summary(ref)).state == "running"

    async def no_sleep_30() -> bool:
        rows = (await engine.top(ref)).processes
        return not any("sleep 30" in " ".join(row) for row in rows)

    await eventually(no_sleep_30, what="the timed-out exec's processes to be gone")


async def test_exec_in_missing_or_stopped_container(
    engine: Engine, make_container: MakeContainer
) -> None:
    missing = unique_name("missing")
    with pytest.raises(NotFound, match=f"no such container: {missing}"):
        await engine.exec_run(missing, ["true"])
    with pytest.raises(InvalidInput, match="not a string"):
        await engine.exec_run(missing, "echo hi")
    stopped = await make_container(start=False)
    with pytest.raises(Conflict, match="is not running"):
        await engine.exec_run(stopped, ["true"])
    with pytest.raises(Conflict):
        await engine.exec_interactive(stopped, ["sh"])


async def _read_until(session: ExecSession, needle: bytes) -> bytes:
    seen = b""
    async with asyncio.timeout(10):
        while needle not in seen:
            data = await session.read()
            assert data is not None, f"output ended before {needle!r}: {seen!r}"
            seen += data
    return seen


async def test_interactive_tty_session(engine: Engine, make_container: MakeContainer) -> None:
    ref = await make_container()
    session = await engine.exec_interactive(ref, ["sh"], size=(40, 132), env={"WHO": "tester"})
    async with session:
        await session.write(b"stty size; echo hello $WHO\n")
        output = await _read_until(session, b"hello tester")
        assert b"40 132" in output
        await session.resize(50, 100)
        await session.write(b"stty size\n")
        await _read_until(session, b"50 100")
        assert await session.exit_code() is None
        await session.write(b"exit 5\n")
        while await session.read() is not None:
            pass
        assert await eventually(session.exit_code, what="the exit code") == 5
    await session.aclose()  # idempotent
    with pytest.raises(Conflict):
        await session.write(b"late")


async def test_interactive_without_tty_splits_streams_and_closes_stdin(
    engine: Engine, make_container: MakeContainer
) -> None:
    ref = await make_container()
    async with await engine.exec_interactive(
        ref, ["sh", "-c", "cat; echo done >&2"], tty=False
    ) as session:
        await session.write(b"line one\nline two\n")
        await session.close_stdin()
        stdout, stderr = b"", b""
        while (chunk := await session.read_chunk()) is not None:
            if chunk.stream == "stdout":
                stdout += chunk.data
            else:
                stderr += chunk.data
        assert (stdout, stderr) == (b"line one\nline two\n", b"done\n")
        assert await eventually(lambda: _exit_code_is(session, 0), what="exit code 0")
        with pytest.raises(Conflict, match="stdin"):
            await session.write(b"more")


async def _exit_code_is(session: ExecSession, expected: int) -> bool:
    return await session.exit_code() == expected

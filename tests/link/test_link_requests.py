"""Requests over a link session: concurrency, timeouts, drops, errors, no leaks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from link_helpers import PairFactory

from docklord.errors import (
    Conflict,
    DocklordError,
    EngineUnavailable,
    InvalidInput,
    LinkClosed,
    LinkError,
    NotFound,
    RequestTimeout,
)
from docklord.link import LinkSettings
from docklord.testing import eventually


class Server:
    """A request handler with a fast, a hanging and a failing method."""

    def __init__(self) -> None:
        self.started: asyncio.Queue[str] = asyncio.Queue()
        self.cancelled = 0
        self.release = asyncio.Event()

    async def __call__(self, method: str, args: Any) -> Any:
        if method == "echo":
            return args
        if method == "hang":
            self.started.put_nowait(method)
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            return "released"
        if method == "raise":
            raise _ERRORS[args["code"]](args["message"], details=args.get("details"))
        if method == "crash":
            raise RuntimeError("secret internals")
        if method == "unserializable":
            return {"set": {1, 2}}
        raise NotFound(f"no method {method}")


_ERRORS: dict[str, type[DocklordError]] = {
    cls.code: cls for cls in (NotFound, Conflict, EngineUnavailable, InvalidInput)
}


async def test_round_trip_keeps_json_values(link_pair: PairFactory) -> None:
    pair = await link_pair(acceptor={"on_request": Server()})
    args = {"a": [1, 2.5, None, True], "b": "é", "c": {}}
    assert await pair.dialer.request("echo", args) == args
    assert await pair.dialer.request("echo") is None


async def test_requests_work_in_both_directions(link_pair: PairFactory) -> None:
    pair = await link_pair(dialer={"on_request": Server()}, acceptor={"on_request": Server()})
    assert await pair.acceptor.request("echo", 1) == 1
    assert await pair.dialer.request("echo", 2) == 2


async def test_a_slow_request_does_not_block_a_fast_one(link_pair: PairFactory) -> None:
    server = Server()
    pair = await link_pair(acceptor={"on_request": server})
    slow = asyncio.create_task(pair.dialer.request("hang"))
    await server.started.get()
    started = time.monotonic()
    assert await pair.dialer.request("echo", "fast") == "fast"
    assert time.monotonic() - started < 1.0
    assert not slow.done()
    server.release.set()
    assert await slow == "released"


async def test_timeout_cancels_the_peer_handler_and_leaks_nothing(
    link_pair: PairFactory,
) -> None:
    server = Server()
    pair = await link_pair(acceptor={"on_request": server})
    with pytest.raises(RequestTimeout, match="'hang' got no answer from .* within 0.2s"):
        await pair.dialer.request("hang", timeout=0.2)
    assert pair.dialer.pending_requests == 0

    async def peer_cancelled() -> bool:
        return server.cancelled == 1 and pair.acceptor.serving_requests == 0

    await eventually(peer_cancelled, what="the peer's handler to be cancelled")


async def test_many_timeouts_leave_nothing_behind(link_pair: PairFactory) -> None:
    server = Server()
    pair = await link_pair(acceptor={"on_request": server})
    calls = [pair.dialer.request("hang", timeout=0.1) for _ in range(50)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(result, RequestTimeout) for result in results)
    assert pair.dialer.pending_requests == 0

    async def peer_clean() -> bool:
        return server.cancelled == 50 and pair.acceptor.serving_requests == 0

    await eventually(peer_clean, what="every handler to be cancelled")


async def test_cancelling_the_caller_cancels_the_peer_handler(link_pair: PairFactory) -> None:
    server = Server()
    pair = await link_pair(acceptor={"on_request": server})
    call = asyncio.create_task(pair.dialer.request("hang"))
    await server.started.get()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert pair.dialer.pending_requests == 0

    async def peer_cancelled() -> bool:
        return server.cancelled == 1 and pair.acceptor.serving_requests == 0

    await eventually(peer_cancelled, what="the peer's handler to be cancelled")


async def test_a_dropped_link_fails_every_pending_call_at_once(link_pair: PairFactory) -> None:
    server = Server()
    pair = await link_pair(acceptor={"on_request": server})
    calls = [asyncio.create_task(pair.dialer.request("hang", timeout=60)) for _ in range(10)]
    for _ in calls:
        await server.started.get()
    started = time.monotonic()
    await pair.acceptor_transport.close()  # the wire breaks under both sessions
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert time.monotonic() - started < 1.0
    assert all(isinstance(result, LinkClosed) for result in results), results
    assert len({id(result) for result in results}) == 10  # one exception object per caller
    assert pair.dialer.pending_requests == 0
    with pytest.raises(LinkClosed):
        await pair.dialer_run
    with pytest.raises(LinkClosed):
        await pair.dialer.request("echo")


async def test_closing_the_session_fails_pending_calls(link_pair: PairFactory) -> None:
    server = Server()
    pair = await link_pair(acceptor={"on_request": server})
    call = asyncio.create_task(pair.dialer.request("hang"))
    await server.started.get()
    await pair.dialer.aclose()
    with pytest.raises(LinkClosed, match="closed by this end"):
        await call
    assert await pair.dialer_run is None
    assert pair.dialer.pending_requests == 0

    async def peer_cancelled() -> bool:
        return server.cancelled == 1

    await eventually(peer_cancelled, what="the peer to cancel its handler")


@pytest.mark.parametrize("error", [NotFound, Conflict, EngineUnavailable, InvalidInput])
async def test_remote_errors_keep_their_class(
    link_pair: PairFactory, error: type[DocklordError]
) -> None:
    pair = await link_pair(acceptor={"on_request": Server()})
    args = {"code": error.code, "message": "it failed", "details": {"matches": ["a", "b"]}}
    with pytest.raises(error) as caught:
        await pair.dialer.request("raise", args)
    assert type(caught.value) is error
    assert caught.value.message == "it failed"
    assert caught.value.details == {"matches": ["a", "b"]}


async def test_unexpected_exceptions_become_internal_errors(link_pair: PairFactory) -> None:
    pair = await link_pair(acceptor={"on_request": Server()})
    with pytest.raises(DocklordError) as caught:
        await pair.dialer.request("crash")
    assert type(caught.value) is DocklordError
    assert caught.value.code == "internal"
    assert "secret" not in caught.value.message
    with pytest.raises(DocklordError, match="internal error while serving 'unserializable'"):
        await pair.dialer.request("unserializable")
    assert await pair.dialer.request("echo", "still fine") == "still fine"


async def test_without_a_handler_requests_fail_with_not_found(link_pair: PairFactory) -> None:
    pair = await link_pair()
    with pytest.raises(NotFound, match="serves no requests"):
        await pair.dialer.request("anything")


async def test_requests_beyond_the_limit_are_refused_at_once(link_pair: PairFactory) -> None:
    server = Server()
    pair = await link_pair(
        acceptor={"on_request": server, "settings": LinkSettings(max_concurrent_requests=2)}
    )
    hanging = [asyncio.create_task(pair.dialer.request("hang")) for _ in range(2)]
    for _ in hanging:
        await server.started.get()
    with pytest.raises(LinkError, match="too many concurrent requests"):
        await pair.dialer.request("echo")
    server.release.set()
    assert await asyncio.gather(*hanging) == ["released", "released"]
    assert await pair.dialer.request("echo", 3) == 3


async def test_arguments_must_be_json(link_pair: PairFactory) -> None:
    pair = await link_pair(acceptor={"on_request": Server()})
    with pytest.raises(InvalidInput, match="not JSON-serializable"):
        await pair.dialer.request("echo", {"x": object()})
    with pytest.raises(InvalidInput):
        await pair.dialer.request("echo", float("nan"))
    assert pair.dialer.pending_requests == 0


async def test_an_unbounded_timeout_is_accepted(link_pair: PairFactory) -> None:
    pair = await link_pair(acceptor={"on_request": Server()})
    assert await pair.dialer.request("echo", 5, timeout=1e12) == 5

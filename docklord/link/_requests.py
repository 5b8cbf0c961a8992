"""Request/response bookkeeping of a link session: the pending map and the served calls."""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import Awaitable
from typing import Any, Protocol

import structlog

from docklord.errors import (
    DocklordError,
    InvalidInput,
    LinkClosed,
    LinkError,
    NotFound,
    RequestTimeout,
)
from docklord.link._outbox import Outbox
from docklord.link._tasks import log_failure
from docklord.protocol import (
    Cancel,
    Envelope,
    Request,
    Response,
    dump_json,
    error_from_proto,
    error_to_proto,
    load_json,
)

__all__ = ["RequestHandler", "RequestTable"]

log = structlog.get_logger(__name__)

_MAX_UINT32 = 2**32 - 1


class RequestHandler(Protocol):
    """Serves one request: ``(method, args) -> result``, all JSON values.

    Raising a ``DocklordError`` answers with its code; any other exception answers
    ``internal`` with a generic message and is logged.
    """

    def __call__(self, method: str, args: Any, /) -> Awaitable[Any]: ...


class RequestTable:
    """The calls this end made (pending, keyed by request id) and the ones it serves.

    The two id spaces never mix: a ``Response`` always answers one of our calls, a ``Cancel``
    always targets one we serve.
    """

    def __init__(
        self, outbox: Outbox, peer: str, handler: RequestHandler | None, max_serving: int
    ) -> None:
        self._outbox = outbox
        self._peer = peer
        self._handler = handler
        self._max_serving = max_serving
        self._ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[Response]] = {}
        self.serving: dict[int, asyncio.Task[None]] = {}
        #: Set while this end shuts down: new requests get it as their answer.
        self.refusal: LinkError | None = None

    async def call(self, method: str, args: Any, wait: float) -> Any:
        """Sends a request and waits ``wait`` seconds for its answer (``LinkSession.request``)."""
        timeout_ms = int(min(wait * 1000, _MAX_UINT32))
        frame = Request(method=method, args=dump_json(args), timeout_ms=timeout_ms)
        request_id = next(self._ids)
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        try:
            self._outbox.put_control(Envelope(request_id=request_id, request=frame))
            async with asyncio.timeout(wait):
                response = await future
        except TimeoutError:
            self._cancel_remote(request_id)
            message = f"{method!r} got no answer from {self._peer} within {wait:g}s"
            raise RequestTimeout(message) from None
        except asyncio.CancelledError:
            self._cancel_remote(request_id)
            raise
        finally:
            del self.pending[request_id]
            if future.done() and not future.cancelled():
                future.exception()  # failed as the caller was cancelled: seen, not lost
        if response.HasField("error"):
            raise error_from_proto(response.error)
        return load_json(response.result)

    def _cancel_remote(self, request_id: int) -> None:
        self._outbox.put_control(Envelope(request_id=request_id, cancel=Cancel()))

    def fail_pending(self, error: LinkClosed) -> None:
        """Fails every pending call at once (each caller gets its own exception)."""
        for future in self.pending.values():
            if not future.done():
                future.set_exception(LinkClosed(error.message))

    def on_response(self, env: Envelope) -> None:
        """Completes the pending call the response answers; late answers are dropped."""
        future = self.pending.get(env.request_id)
        if future is None or future.done():
            log.debug("link.late_response", peer=self._peer, request_id=env.request_id)
            return
        future.set_result(env.response)

    def on_cancel(self, env: Envelope) -> None:
        """Cancels the served call the peer gave up on."""
        task = self.serving.get(env.request_id)
        if task is not None:
            task.cancel()

    def on_request(self, env: Envelope) -> None:
        """Starts serving a request in its own task, or refuses it at once."""
        request_id, method = env.request_id, env.request.method
        handler = self._handler
        try:
            if handler is None:
                raise NotFound(f"this end of the link serves no requests ({method!r})")
            if self.refusal is not None:
                raise self.refusal
            if len(self.serving) >= self._max_serving:
                raise LinkError(f"too many concurrent requests (limit {self._max_serving})")
            if request_id in self.serving:
                raise InvalidInput(f"request id {request_id} is already in use")
        except DocklordError as refusal:
            self._answer(request_id, Response(error=error_to_proto(refusal)))
            return
        task = asyncio.create_task(
            self._serve(handler, request_id, env.request), name=f"link-request {method}"
        )
        self.serving[request_id] = task
        task.add_done_callback(functools.partial(self._served, request_id))

    async def _serve(self, handler: RequestHandler, request_id: int, request: Request) -> None:
        method = request.method
        try:
            result = await handler(method, load_json(request.args))
        except DocklordError as exc:
            log.debug("link.request_error", method=method, code=exc.code, error=exc.message)
            self._answer(request_id, Response(error=error_to_proto(exc)))
            return
        except Exception:
            log.exception("link.request_failed", method=method, peer=self._peer)
            self._answer_internal(request_id, method)
            return
        try:
            body = dump_json(result)
        except InvalidInput:
            log.exception("link.bad_result", method=method, peer=self._peer)
            self._answer_internal(request_id, method)
            return
        self._answer(request_id, Response(result=body))

    def _answer(self, request_id: int, response: Response) -> None:
        self._outbox.put_control(Envelope(request_id=request_id, response=response))

    def _answer_internal(self, request_id: int, method: str) -> None:
        error = DocklordError(f"internal error while serving {method!r}")
        self._answer(request_id, Response(error=error_to_proto(error)))

    def _served(self, request_id: int, task: asyncio.Task[None]) -> None:
        if self.serving.get(request_id) is task:
            del self.serving[request_id]
        log_failure(task)

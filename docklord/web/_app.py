from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docklord import __version__
from docklord.errors import DocklordError
from docklord.logs import redact_query
from docklord.web._deps import keep_coordinator

if TYPE_CHECKING:
    from docklord.coordinator import Coordinator

__all__ = ["create_app", "error_response"]

log = structlog.get_logger("docklord.http")

#: The one error shape, as the OpenAPI document describes it.
_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            "additionalProperties": True,
        }
    },
}
_ERROR_TEXT = {
    400: "the body is not JSON",
    401: "no credentials, or they are invalid or expired",
    403: "the caller's role or grants do not allow this",
    404: "no such object (or not visible to the caller)",
    409: "the object is in the wrong state, or a name or prefix is ambiguous",
    422: "the request is invalid (``fields`` names each problem)",
    429: "too many failed attempts; see ``Retry-After``",
    502: "the node's Docker Engine answered with an error",
    503: "the node is offline or its engine is unavailable",
    504: "the node did not answer in time",
}
#: The errors every route of the API may answer (authentication, validation, lookups).
_COMMON_ERRORS = (400, 401, 403, 404, 409, 422, 429)
#: And those of the routes that ask a node.
_NODE_ERRORS = (*_COMMON_ERRORS, 502, 503, 504)


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """The one error shape of the API: ``{"error": {"code", "message", ...}}``."""
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status)


def create_app(coordinator: Coordinator) -> FastAPI:
    """The coordinator's ASGI application: REST, WebSocket streams, node link, operations."""
    from docklord.web import (
        _alerts,
        _compat,
        _containers,
        _events_history,
        _events_ws,
        _exec,
        _health,
        _identity,
        _instances,
        _link_ws,
        _listings,
        _littlewings,
        _log_download,
        _logs,
        _merged_logs,
        _metrics,
        _relay,
        _resources,
        _sign_in,
        _stats,
        _stats_history,
        _tunnel,
        _ui,
    )

    app = FastAPI(
        title="Docklord",
        version=__version__,
        description="Manage and monitor Docker containers across many hosts, live.",
        docs_url=None,  # /docs is Swagger UI from the npm package (docklord.web._ui)
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    keep_coordinator(app, coordinator)
    for module in (
        _sign_in,
        _listings,
        _identity,
        _events_ws,
        _link_ws,
        _tunnel,
        _littlewings,
        _health,
        _metrics,
        _stats_history,
        _events_history,
        _merged_logs,
        _alerts,
        _ui,
    ):
        app.include_router(module.router, responses=_errors(_COMMON_ERRORS))
    for module in (
        _containers,
        _resources,
        _logs,
        _stats,
        _relay,
        _exec,
        _log_download,
        _instances,
        _compat,
    ):
        app.include_router(module.router, responses=_errors(_NODE_ERRORS))
    _install_error_handlers(app)
    app.add_middleware(_ui.UiFiles)  # the browser UI at / (inside the access log)
    app.add_middleware(AccessLog)
    return app


def _errors(statuses: tuple[int, ...]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error answers, in the one error shape (replacing FastAPI's
    default 422 schema, which is not what the API answers)."""
    content = {"application/json": {"schema": _ERROR_SCHEMA}}
    return {s: {"description": _ERROR_TEXT[s], "content": content} for s in statuses}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DocklordError)
    async def _docklord(request: Request, exc: DocklordError) -> JSONResponse:
        return JSONResponse({"error": exc.to_dict()}, exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                "message": err.get("msg", "invalid"),
            }
            for err in exc.errors()
        ]
        return error_response(422, "invalid_input", "the request is invalid", fields=fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return error_response(500, "internal", "internal error; see the coordinator log")


class AccessLog:
    """Logs each HTTP request once, with secret query parameters redacted."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            query = redact_query(scope.get("query_string", b"").decode("latin-1"))
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"] + (f"?{query}" if query else ""),
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )

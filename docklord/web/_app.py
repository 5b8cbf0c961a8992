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

if TYPE_CHECKING:
    from docklord.coordinator import Coordinator

__all__ = ["create_app", "error_response"]

log = structlog.get_logger("docklord.http")


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """The one error shape of the API: ``{"error": {"code", "message", ...}}``."""
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status)


def create_app(coordinator: Coordinator) -> FastAPI:
    """The coordinator's ASGI application: REST, WebSocket streams, node link, operations."""
    from docklord.web import (
        _api,
        _compat,
        _container_streams,
        _containers,
        _identity,
        _instances,
        _littlewings,
        _metrics,
        _ops,
        _resources,
        _stats_history,
        _streams,
        _tunnel,
    )

    app = FastAPI(
        title="Docklord",
        version=__version__,
        description="Manage and monitor Docker containers across many hosts, live.",
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.state.coordinator = coordinator
    for module in (
        _api,
        _identity,
        _containers,
        _resources,
        _container_streams,
        _streams,
        _tunnel,
        _instances,
        _littlewings,
        _compat,
        _ops,
        _metrics,
        _stats_history,
    ):
        app.include_router(module.router)
    _install_error_handlers(app)
    app.add_middleware(AccessLog)
    return app


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

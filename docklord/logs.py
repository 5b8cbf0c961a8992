"""Structured logging set-up (structlog), human-readable by default, JSON on demand.

Secrets never reach a log line: callers do not log them, and :func:`redact_query` strips the
query parameters that documented requests use to carry credentials before a URL is logged.
"""

from __future__ import annotations

import logging
import sys
from urllib.parse import parse_qsl, quote

import structlog

__all__ = ["SECRET_PARAMS", "configure", "redact_query"]

#: Query parameters whose values are secrets.
SECRET_PARAMS = frozenset({"password", "token", "access_token", "secret", "proof", "key"})


def configure(fmt: str = "console", level: str = "info") -> None:
    """Route structlog and the standard library's logging to stderr in one format."""
    renderer: structlog.types.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        # Tracebacks without local variables: a local may hold a secret.
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(),
            exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False),
        )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log prints raw query strings (with passwords); we log requests
    # ourselves, redacted.
    logging.getLogger("uvicorn.access").disabled = True
    # uvicorn logs WebSocket paths with their query strings (documented requests carry a
    # password there): redact them before any handler sees the record.
    uvicorn_error = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _RedactPaths) for f in uvicorn_error.filters):
        uvicorn_error.addFilter(_RedactPaths())
    for noisy in ("websockets", "aiosqlite", "asyncio", "grpc"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


class _RedactPaths(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_path(a) if isinstance(a, str) else a for a in record.args)
        return True


def _redact_path(value: str) -> str:
    path, sep, query = value.partition("?")
    return f"{path}?{redact_query(query)}" if sep else value


def redact_query(query: str) -> str:
    """Return ``query`` with the values of secret parameters replaced by ``***``."""
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(
        f"{quote(k)}={'***' if k.lower() in SECRET_PARAMS else quote(v)}" for k, v in pairs
    )

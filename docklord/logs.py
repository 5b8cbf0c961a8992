"""Structured logging set-up (structlog), human-readable by default, JSON on demand.

Secrets never reach a log line: callers do not log them, and :func:`redact_query` strips the
query parameters that documented requests use to carry credentials before a URL is logged.

Logging never stalls the event loop: a call only puts the record on a queue, and one
background thread formats and writes it. Tracebacks are plain text (``traceback`` module
formatting, about a millisecond), never rich's rendering, which took 1-5 s per exception and,
on the loop, let a stream of malformed frames stall every client of the coordinator.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import sys
from urllib.parse import parse_qsl, quote

import structlog

__all__ = ["SECRET_PARAMS", "configure", "redact_query"]

_listener: logging.handlers.QueueListener | None = None

#: Query parameters whose values are secrets.
SECRET_PARAMS = frozenset({"password", "token", "access_token", "secret", "proof", "key"})


def configure(fmt: str = "console", level: str = "info") -> None:
    """Route structlog and the standard library's logging to stderr in one format."""
    renderers: list[structlog.types.Processor]
    if fmt == "json":
        renderers = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        # Plain tracebacks without local variables: cheap, and a local may hold a secret.
        renderers = [
            structlog.dev.ConsoleRenderer(
                colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
            )
        ]
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
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderers],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [_start_writer(handler)]
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


def _start_writer(handler: logging.Handler) -> logging.Handler:
    """A handler that queues records for ``handler``, which a background thread runs."""
    global _listener
    if _listener is not None:
        _listener.stop()  # writes what the previous configuration still had queued
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _listener = logging.handlers.QueueListener(records, handler, respect_handler_level=True)
    _listener.start()
    return _Enqueue(records)


@atexit.register
def _flush_at_exit() -> None:
    if _listener is not None:
        _listener.stop()


class _Enqueue(logging.handlers.QueueHandler):
    """Hands the record over as it is: formatting (and any traceback) happens in the writer
    thread. The stock ``prepare`` would format here, on the caller's thread."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


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

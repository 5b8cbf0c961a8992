from __future__ import annotations

import pytest

from docklord.logs import redact_query


def test_secret_parameters_are_redacted() -> None:
    redacted = redact_query("node_id=abc&password=s3cret&token=t0k&q=web")
    assert "s3cret" not in redacted and "t0k" not in redacted
    assert "node_id=abc" in redacted and "q=web" in redacted
    assert "password=***" in redacted and "token=***" in redacted


def test_empty_query_stays_empty() -> None:
    assert redact_query("") == ""


def test_uvicorn_websocket_lines_are_redacted() -> None:
    import logging

    from docklord.logs import configure

    configure("json", "info")
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("1.2.3.4", "/observe?node_id=a&password=pw1"),
        None,
    )
    # The filter sits on uvicorn's logger, so it runs before any handler sees the record.
    assert logging.getLogger("uvicorn.error").filter(record)
    assert "pw1" not in record.getMessage()
    assert "password=***" in record.getMessage()


def test_tracebacks_are_plain_and_written_off_the_callers_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io
    import logging
    import logging.handlers
    import sys

    import structlog

    from docklord.logs import configure

    err = io.StringIO()
    with monkeypatch.context() as patch:
        patch.setattr(sys, "stderr", err)
        configure("console", "info")
        (handler,) = logging.getLogger().handlers
        # The caller only queues the record; a background thread formats and writes it.
        assert isinstance(handler, logging.handlers.QueueHandler)
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError as exc:
            structlog.get_logger("test").error("boom", exc_info=exc)
        configure("console", "info")  # drains what the previous writer still had
    configure("console", "info")  # back to the real stderr for the tests that follow
    text = err.getvalue()
    assert "Traceback (most recent call last)" in text and "ZeroDivisionError" in text
    assert "╭" not in text and "│" not in text  # not rich's boxed rendering

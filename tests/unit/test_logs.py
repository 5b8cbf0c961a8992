from __future__ import annotations

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

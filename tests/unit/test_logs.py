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
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("uvicorn.error")
    keep = Keep()
    logger.addHandler(keep)
    try:
        logger.info('%s - "WebSocket %s" [accepted]', "1.2.3.4", "/observe?node_id=a&password=pw1")
    finally:
        logger.removeHandler(keep)
    assert "pw1" not in records[0].getMessage()
    assert "password=***" in records[0].getMessage()

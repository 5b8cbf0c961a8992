"""Client messages on WebSockets: bounded, depth-safe, Unicode-checked, answered, never raised."""

from __future__ import annotations

from pathlib import Path

import pytest

from docklord.errors import InvalidInput
from docklord.web._client_messages import MAX_DEPTH, parse_message

from ._asgi import AsgiWebSocket, coordinator_app


def nested(depth: int) -> str:
    return '{"type": "x", "v": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


@pytest.mark.parametrize(
    ("event", "complaint"),
    [
        ({"text": "[" * 200_000 + "]" * 200_000}, "nested at most"),
        ({"text": nested(MAX_DEPTH + 1)}, "nested at most"),
        ({"text": '{"type": "x", "v": "' + "a" * 2_000_000 + '"}'}, "at most"),
        ({"text": '{"type": "command", "command": "\\ud800"}'}, "lone surrogates"),
        ({"text": '{"type": "x", "\\udfff": 1}'}, "lone surrogates"),
        ({"bytes": b'{"type": "x\xff"}'}, "UTF-8"),
        ({"bytes": b""}, "text frames"),
        ({"text": "{"}, "malformed JSON"),
        ({"text": "[1, 2]"}, '"type"'),
        ({"text": '{"type": 7}'}, '"type"'),
    ],
)
def test_bad_messages_are_invalid_input(event: dict[str, object], complaint: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_message(event)
    assert complaint in refused.value.message


def test_good_messages_pass_as_objects() -> None:
    assert parse_message({"text": nested(MAX_DEPTH)})["type"] == "x"
    assert parse_message({"bytes": '{"type": "heartbeat", "é": "ü"}'.encode()}) == {
        "type": "heartbeat",
        "é": "ü",
    }


async def test_littlewings_answers_every_bad_frame_and_stays_open(tmp_path: Path) -> None:
    async with coordinator_app(tmp_path) as (_, app, token):
        ws = AsgiWebSocket(app, "/api/ws", token=token)
        async with ws:
            for bad in ["[" * 100_000 + "]" * 100_000, nested(100), '{"type": "\\ud800"}', "{"]:
                await ws.send_text(bad)
                answer = await ws.receive_json()
                assert answer["type"] == "error", answer
            await ws.send_bytes(b"\xff\xfe")
            assert (await ws.receive_json())["type"] == "error"
            await ws.send_text('{"type": "heartbeat"}')
            assert await ws.receive_json() == {"type": "heartbeat_ack"}


def test_exec_control_frames_use_the_same_reader() -> None:
    from docklord.web._exec import _exec_control

    for bad in ["[" * 100_000 + "]" * 100_000, nested(MAX_DEPTH + 1), '{"type": "\\ud800"}']:
        with pytest.raises(InvalidInput):
            _exec_control(bad)
    assert _exec_control('{"type": "eof"}')

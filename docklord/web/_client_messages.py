"""JSON messages that WebSocket clients send: read once, bounded, never raising past the route.

Every WebSocket route that accepts client messages (``/api/ws``, the control frames of
``.../exec/ws``) reads them through :func:`receive_message` or :func:`parse_message`, so that
one set of rules holds everywhere:

- a message is a JSON object with a string ``"type"``, in a text frame (a binary frame is
  accepted when it is UTF-8);
- at most :data:`MAX_MESSAGE` characters, nested at most :data:`MAX_DEPTH` levels (a deeper
  document would exhaust the parser's recursion, and later the encoder's);
- text is valid Unicode: a lone surrogate (``"\\ud800"``) cannot be stored, logged as UTF-8 or
  audited, so it is refused here rather than failing somewhere later.

A bad message raises :class:`~docklord.errors.InvalidInput`; the route answers
``{"type": "error", "message"}`` and the socket stays open. Invalid UTF-8 in a *text* frame
never reaches the application: the server closes the socket with ``1007`` (see
``docklord.coordinator``'s HTTP guards).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.websockets import WebSocket

from docklord.errors import InvalidInput

__all__ = ["MAX_DEPTH", "MAX_MESSAGE", "parse_message", "receive_message"]

#: The longest message, in characters: a command of 100,000 characters fits even when JSON
#: escapes every one of them.
MAX_MESSAGE = 1024 * 1024
#: The deepest nesting of arrays and objects in a message.
MAX_DEPTH = 32


async def receive_message(ws: WebSocket, *, max_size: int = MAX_MESSAGE) -> dict[str, Any] | None:
    """The next client message, or ``None`` when the client has left.

    Raises:
        InvalidInput: the frame is not a message (see the module docstring); the socket is
            still usable.
    """
    incoming = await ws.receive()
    if incoming["type"] == "websocket.disconnect":
        return None
    return parse_message(incoming, max_size=max_size)


def parse_message(incoming: Mapping[str, Any], *, max_size: int = MAX_MESSAGE) -> dict[str, Any]:
    """The message in one received ASGI ``websocket.receive`` event.

    Raises:
        InvalidInput: not a JSON object with a ``"type"``, too long, too deep, or not Unicode.
    """
    text = incoming.get("text")
    if text is None:
        text = _utf8(incoming.get("bytes"))
    if len(text) > max_size:
        raise InvalidInput(f"a message is at most {max_size} characters")
    try:
        message = json.loads(text)
    except RecursionError as exc:
        raise InvalidInput(f"a message is nested at most {MAX_DEPTH} levels deep") from exc
    except ValueError as exc:
        raise InvalidInput(f"malformed JSON: {exc}") from exc
    _check_tree(message)
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise InvalidInput('a message is a JSON object with a "type"')
    return message


def _utf8(data: bytes | None) -> str:
    if not data:
        raise InvalidInput("messages are JSON text frames")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("a binary message must be UTF-8 JSON") from exc


def _check_tree(message: Any) -> None:
    # Iterative, so that checking a deep document cannot exhaust the stack either. The path of
    # each value ("command", "env.PATH", "cmd[2]") names the field in the error.
    pending: list[tuple[Any, int, str]] = [(message, 1, "")]
    while pending:
        value, depth, path = pending.pop()
        if isinstance(value, str):
            _check_text(value, path)
        elif isinstance(value, dict):
            _check_depth(depth)
            for key, item in value.items():
                _check_text(key, path)
                pending.append((item, depth + 1, f"{path}.{key}" if path else key))
        elif isinstance(value, list):
            _check_depth(depth)
            pending.extend((item, depth + 1, f"{path}[{i}]") for i, item in enumerate(value))


def _check_depth(depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InvalidInput(f"a message is nested at most {MAX_DEPTH} levels deep")


def _check_text(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        where = f"{path}: " if path else ""
        raise InvalidInput(
            f"{where}text in a message must be valid Unicode (no lone surrogates)"
        ) from None

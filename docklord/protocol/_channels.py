"""The frame format of a link channel, shared by both ends (DESIGN.md §12).

Every frame on a channel carries a stream number: ``PLAIN`` (0) plain data or stdin,
``STDOUT`` (1), ``STDERR`` (2), and ``CONTROL`` (3), whose payload is one JSON object with a
``type`` (:func:`control` builds one, :func:`parse_control` reads one). ``READY`` says the node
found what the channel asked for and the data follows; ``EOF`` says one side has no more to send.
What each channel kind sends is described in ``docklord.node._ops_streams``.

Also here, the limits of the ``littlewings.command`` request that both ends check.
"""

from __future__ import annotations

import json
from typing import Any

from docklord.errors import InvalidInput

__all__ = [
    "COMMAND_TIMEOUT",
    "CONTROL",
    "EOF",
    "MAX_COMMAND",
    "PLAIN",
    "READY",
    "STDERR",
    "STDOUT",
    "control",
    "parse_control",
]

#: Stream numbers of channel frames.
PLAIN, STDOUT, STDERR, CONTROL = 0, 1, 2, 3
#: Longest a ``littlewings.command`` may run unless the caller says otherwise (seconds).
COMMAND_TIMEOUT = 60.0
#: The largest ``sh -c`` command text accepted (Linux caps one argument at 128 KiB).
MAX_COMMAND = 100_000


def control(message: dict[str, Any]) -> bytes:
    """A control frame's payload."""
    return json.dumps(message, separators=(",", ":")).encode()


def parse_control(data: bytes) -> dict[str, Any]:
    """A control frame's JSON object.

    Raises:
        InvalidInput: the payload is not a JSON object with a ``type``.
    """
    try:
        message = json.loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting past the parser's
        raise InvalidInput(f"unreadable control frame: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise InvalidInput("a control frame is a JSON object with a 'type'")
    return message


READY = control({"type": "ready"})
EOF = control({"type": "eof"})

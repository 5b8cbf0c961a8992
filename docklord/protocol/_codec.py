"""Encoding and decoding of link frames and of the JSON documents they carry."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.message import DecodeError

from docklord.errors import InvalidInput
from docklord.protocol.docklord_pb2 import Envelope

__all__ = ["MAX_FRAME_BYTES", "PROTOCOL_VERSION", "decode", "dump_json", "encode", "load_json"]

#: The version of the link protocol this code speaks (``Hello.protocol_version``).
PROTOCOL_VERSION = 1

#: The largest encoded frame either transport accepts.
MAX_FRAME_BYTES = 16 * 1024 * 1024


def encode(env: Envelope) -> bytes:
    """Serializes one frame for the wire."""
    return env.SerializeToString()


def decode(data: bytes) -> Envelope:
    """Parses one frame received from the wire.

    Raises:
        InvalidInput: the bytes are not an ``Envelope``.
    """
    try:
        return Envelope.FromString(data)
    except DecodeError as exc:
        raise InvalidInput(f"undecodable link frame ({len(data)} bytes)") from exc


def dump_json(obj: Any) -> bytes:
    """Encodes ``Request.args``/``Response.result``; ``None`` becomes empty bytes.

    Raises:
        InvalidInput: the value is not representable as strict JSON (no NaN/Infinity).
    """
    if obj is None:
        return b""
    try:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        # A lone surrogate is valid in a str but not in UTF-8 (UnicodeEncodeError is a ValueError).
        return text.encode()
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"value is not JSON-serializable: {exc}") from exc


def load_json(data: bytes) -> Any:
    """Decodes what :func:`dump_json` produced; empty bytes become ``None``.

    Strict like :func:`dump_json`: ``NaN`` and ``Infinity`` are refused (a peer's ``NaN`` would
    otherwise reach an API response, which cannot carry it).

    Raises:
        InvalidInput: the bytes are not valid UTF-8 strict JSON, or nest too deep.
    """
    if not data:
        return None
    try:
        return json.loads(data, parse_constant=_refuse_constant)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise InvalidInput(f"invalid JSON document ({len(data)} bytes): {exc}") from exc
    except RecursionError as exc:
        raise InvalidInput(f"JSON document nested too deep ({len(data)} bytes)") from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")

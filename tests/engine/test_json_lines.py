"""The engine's newline-delimited JSON reader: no line limit of aiohttp's, a cap of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp

from docklord.engine._frames import Oversized, json_lines


class _Content:
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    async def iter_any(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece


class _Response:
    def __init__(self, pieces: list[bytes]) -> None:
        self.content = _Content(pieces)


async def _read(pieces: list[bytes], **kw: Any) -> list[Any]:
    response = cast(aiohttp.ClientResponse, _Response(pieces))
    return [doc async for doc in json_lines(response, **kw)]


async def test_lines_split_anywhere_and_longer_than_aiohttp_allows() -> None:
    big = b'{"v": "' + b"x" * 700_000 + b'"}'
    stream = b'{"a": 1}\n\n' + big + b'\n{"b": 2}'
    pieces = [stream[i : i + 4096] for i in range(0, len(stream), 4096)]
    docs = await _read(pieces)
    assert docs == [{"a": 1}, {"v": "x" * 700_000}, {"b": 2}]


async def test_a_line_over_the_cap_is_skipped_in_place() -> None:
    stream = b'{"a": 1}\n{"v": "' + b"x" * 5000 + b'"}\n{"b": 2}\n'
    pieces = [stream[i : i + 1000] for i in range(0, len(stream), 1000)]
    docs = await _read(pieces, max_line=1024)
    assert docs[0] == {"a": 1} and docs[2] == {"b": 2} and len(docs) == 3
    assert isinstance(docs[1], Oversized) and docs[1].size == 5009


async def test_an_oversized_last_line_without_newline_is_reported() -> None:
    docs = await _read([b'{"a": 1}\n', b"y" * 3000], max_line=1024)
    assert docs[0] == {"a": 1}
    assert isinstance(docs[1], Oversized) and docs[1].size == 3000

"""Fixtures for the link tests: two sessions joined by an in-memory pair."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from link_helpers import Pair, PairFactory, start

from docklord.link import LinkSession, SessionState, memory_pair


@pytest.fixture
async def link_pair() -> AsyncIterator[PairFactory]:
    """Makes running session pairs; ``dialer={...}``/``acceptor={...}`` are session options."""
    pairs: list[Pair] = []

    async def make(
        *,
        dialer: dict[str, Any] | None = None,
        acceptor: dict[str, Any] | None = None,
        maxsize: int = 64,
    ) -> Pair:
        dialer_transport, acceptor_transport = memory_pair(maxsize=maxsize)
        dialer_session = LinkSession(dialer_transport, dialer=True, **(dialer or {}))
        acceptor_session = LinkSession(acceptor_transport, **(acceptor or {}))
        pair = Pair(
            dialer_session,
            acceptor_session,
            dialer_transport,
            acceptor_transport,
            start(dialer_session),
            start(acceptor_session),
        )
        pairs.append(pair)
        await asyncio.sleep(0)  # one turn of the loop: both run() tasks start
        assert dialer_session.state is acceptor_session.state is SessionState.RUNNING
        return pair

    yield make
    for pair in pairs:
        await pair.aclose()

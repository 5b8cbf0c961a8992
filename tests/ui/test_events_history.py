"""The Events page opens with the recent history (GET /api/v1/events), then goes on live: in
Debian Chromium against real coordinator and node processes and a real engine."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from playwright.async_api import Page, expect

from docklord.testing import eventually, unique_name
from tests.ui.conftest import docker, sign_in

ADMIN_PASSWORD = "admin-test-password"  # noqa: S105 - the throw-away test coordinator's


async def _events_of(http: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    """The coordinator's recent events of the container ``name``."""
    answer = await http.get("/api/v1/events", params={"limit": 1000})
    assert answer.status_code == 200, answer.text
    return [
        e
        for e in answer.json()["events"]
        if e["type"] == "container"
        and name in ((e.get("container") or {}).get("name"), e["attributes"].get("name"))
    ]


async def test_the_events_page_lists_what_came_before_it_opened_then_goes_on_live(
    page: Page, cli_container: Callable[..., str], ui_api: httpx.AsyncClient
) -> None:
    name = unique_name("ui-hist")
    await asyncio.to_thread(cli_container, name=name)

    async def started() -> bool:
        return any(e["action"] == "start" for e in await _events_of(ui_api, name))

    await eventually(started, what="the container's start in the coordinator's journal")
    # A fresh page: the start happened before it opened.
    await sign_in(page, "admin", ADMIN_PASSWORD, f"/events?q={name}")
    events = page.get_by_test_id("event").filter(has_text=name)
    await expect(events.and_(page.locator("[data-action=start]"))).to_have_count(1)
    await asyncio.to_thread(docker, "stop", "-t", "1", name)
    await expect(events.and_(page.locator("[data-action=die]"))).to_have_count(1)

    # Each event once, none missing: the page lists, newest first, what the coordinator holds
    # of this container (the stop's other events may still be on their way: until equal).
    async def the_same() -> bool:
        held = [e["action"] for e in reversed(await _events_of(ui_api, name))]
        shown = await events.evaluate_all("rows => rows.map(r => r.dataset.action)")
        return bool(held) and shown == held

    await eventually(the_same, what="the page's rows equal to the coordinator's events")

"""The audit log and alerts pages end to end: Debian Chromium (Playwright) against real
coordinator and node processes over a real engine, and a webhook receiver on 127.0.0.1.

What the pages show after they loaded comes from the events socket (``kind: audit``,
``alert``, ``alert_delivery``); each test checks that the page never reloaded.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from docklord.testing import WebhookReceiver, eventually, unique_name
from tests.e2e.conftest import Cluster
from tests.ui.conftest import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    assert_no_reload,
    docker,
    mark_no_reload,
    sign_in,
)

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "admin-test-password"
OPERATOR_PASSWORD = "operator-test-password"


@pytest.fixture
async def hooks() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as receiver:
        yield receiver


async def _operator(ui_cluster: Cluster, ui_api: httpx.AsyncClient) -> tuple[str, str]:
    """A second user, created through the API and signed in: its name and session token."""
    name = unique_name("otto")
    body = {"username": name, "password": OPERATOR_PASSWORD, "role": "operator"}
    created = await ui_api.post("/api/v1/users", json=body)
    assert created.status_code == 201, created.text
    async with httpx.AsyncClient(base_url=ui_cluster.coordinator.url, timeout=10) as client:
        login = await client.post(
            "/api/v1/auth/login", json={"username": name, "password": OPERATOR_PASSWORD}
        )
    assert login.status_code == 200, login.text
    return name, str(login.json()["token"])


def audit_row(page: Page, actor: str, action: str):  # type: ignore[no-untyped-def]
    return page.locator(
        f'tr[data-testid="audit-row"][data-actor="{actor}"][data-action="{action}"]'
    )


async def test_the_audit_log_shows_each_actor_filters_and_appends_live(
    page: Page,
    ui_cluster: Cluster,
    ui_api: httpx.AsyncClient,
    cli_container: Callable[..., str],
    tmp_path: Path,
) -> None:
    name = await asyncio.to_thread(cli_container)
    base = f"{ui_cluster.base}/containers/{name}"
    stopped = await ui_api.post(f"{base}/stop")
    assert stopped.status_code == 200, stopped.text
    me, token = await _operator(ui_cluster, ui_api)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=ui_cluster.coordinator.url, headers=headers, timeout=10
    ) as otto:
        started = await otto.post(f"{base}/start")
        assert started.status_code == 200, started.text
        await sign_in(page, "admin", ADMIN_PASSWORD, "/audit")
        await mark_no_reload(page)
        await expect(audit_row(page, "user:admin", "container.stop")).to_have_count(1)
        await expect(audit_row(page, f"user:{me}", "container.start")).to_have_count(1)
        await expect(audit_row(page, f"user:{me}", "auth.login")).to_have_count(1)
        await expect(audit_row(page, "user:admin", "user.create").first).to_be_visible()
        rows = page.get_by_test_id("audit-row")

        # Filtering by actor narrows the list, and the filter is in the URL.
        await page.get_by_label("Actor").fill(f"user:{me}")
        await page.get_by_label("Actor").press("Enter")
        await expect(page).to_have_url(re.compile(r"/audit\?actor=user%3A"))
        await expect(rows).to_have_count(2)
        others = page.locator(f'[data-testid="audit-row"]:not([data-actor="user:{me}"])')
        await expect(others).to_have_count(0)

        # A new action appears live, without a reload; the admin's own does not (filtered).
        assert (await otto.post(f"{base}/stop")).status_code == 200
        assert (await ui_api.post(f"{base}/start")).status_code == 200
        await expect(audit_row(page, f"user:{me}", "container.stop")).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-action", "container.stop")
        await expect(rows).to_have_count(3)
        await assert_no_reload(page)

        # The export holds exactly the filtered entries.
        async with page.expect_download() as download_info:
            await page.get_by_role("button", name="Export NDJSON").click()
        saved = tmp_path / "audit.ndjson"
        await (await download_info.value).save_as(saved)
        exported = [json.loads(line) for line in saved.read_text().splitlines()]
        assert [(e["actor"], e["action"]) for e in exported] == [
            (f"user:{me}", "container.stop"),
            (f"user:{me}", "container.start"),
            (f"user:{me}", "auth.login"),
        ]

        # Result filter: only the failures (none of these), then back to everything.
        await page.get_by_label("Result").select_option("error")
        await expect(page.get_by_text("No entry matches.")).to_be_visible()
        await page.get_by_role("button", name="Clear filters").click()
        await expect(audit_row(page, "user:admin", "container.start")).to_have_count(1)
        await page.screenshot(path=SCREENSHOTS / "audit-desktop.png")
        await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
        await page.screenshot(path=SCREENSHOTS / "audit-phone.png")
        await assert_no_reload(page)


async def test_an_alert_rule_made_in_the_ui_fires_live_with_its_delivery(
    page: Page,
    ui_cluster: Cluster,
    cli_container: Callable[..., str],
    hooks: WebhookReceiver,
) -> None:
    name = await asyncio.to_thread(cli_container)
    await sign_in(page, "admin", ADMIN_PASSWORD, "/alerts")
    await mark_no_reload(page)
    bell = page.get_by_test_id("alert-bell")
    await expect(bell).to_have_attribute("data-count", "0")

    # A webhook channel, and its test send.
    await page.get_by_role("button", name="New channel").click()
    form = page.get_by_role("form", name="New channel")
    await form.get_by_label("Name", exact=True).fill("ops-hook")
    await form.get_by_label("URL").fill(hooks.url("/ui-hook"))
    await form.get_by_role("button", name="Create channel").click()
    await expect(page.locator('[data-testid="channel-row"][data-name="ops-hook"]')).to_be_visible()
    await page.get_by_role("button", name="Test channel ops-hook").click()
    await expect(page.get_by_test_id("channel-test")).to_have_text("delivered (HTTP 200)")
    [test] = hooks.to("/ui-hook")
    assert test.body["event"] == "test"

    # A container_died rule for that one container, sending to the channel.
    rule = unique_name("died")
    await page.get_by_role("button", name="New rule").click()
    form = page.get_by_role("form", name="New rule")
    await form.get_by_label("Name", exact=True).fill(rule)
    await form.get_by_label("Container name (glob)").fill(name)
    await form.get_by_label("ops-hook").check()
    await form.get_by_role("button", name="Create rule").click()
    await expect(page.locator(f'[data-testid="rule-row"][data-name="{rule}"]')).to_contain_text(
        "ops-hook"
    )

    # The container dies: the bell counts it, the alert shows with its delivery attempt.
    await asyncio.to_thread(docker, "kill", name)
    await expect(bell).to_have_attribute("data-count", "1")
    alert = page.locator(f'[data-testid="alert-row"][data-rule="{rule}"]')
    await expect(alert).to_have_attribute("data-state", "firing")
    await expect(alert).to_contain_text(f"container {name} on")
    delivery = alert.get_by_test_id("delivery")
    await expect(delivery).to_have_attribute("data-ok", "true")
    await expect(delivery).to_contain_text("ops-hook · firing · attempt 1 · delivered (HTTP 200)")

    async def received() -> bool:
        return any(h.body.get("event") == "firing" for h in hooks.to("/ui-hook"))

    await eventually(received, timeout=10, what="the firing webhook")
    [fired] = [h.body for h in hooks.to("/ui-hook") if h.body.get("event") == "firing"]
    assert (fired["alert"]["rule"], fired["alert"]["container_name"]) == (rule, name)
    await page.screenshot(path=SCREENSHOTS / "alerts-desktop.png")
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await page.screenshot(path=SCREENSHOTS / "alerts-phone.png", full_page=True)

    # It runs again: the alert resolves, live, and the bell goes back to zero.
    await asyncio.to_thread(docker, "start", name)
    await expect(alert).to_have_attribute("data-state", "resolved")
    await expect(bell).to_have_attribute("data-count", "0")

    # Edit the rule (disable it), then delete it, which asks first.
    await page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    row = page.locator(f'[data-testid="rule-row"][data-name="{rule}"]')
    await page.get_by_role("button", name=f"Edit rule {rule}").click()
    form = page.get_by_role("form", name=f"Edit rule {rule}")
    await expect(form.get_by_label("Container name (glob)")).to_have_value(name)
    await form.get_by_label("Enabled").uncheck()
    await form.get_by_role("button", name="Save rule").click()
    await expect(row).to_contain_text("(disabled)")
    await page.get_by_role("button", name=f"Delete rule {rule}").click()
    await page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    await expect(row).to_have_count(0)
    await expect(alert).to_be_visible()  # past alerts stay
    await assert_no_reload(page)

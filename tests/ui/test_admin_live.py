"""Admin pages that follow changes made elsewhere, in the browser (Debian Chromium, Playwright)
against real coordinator and node processes and a real engine: a user, a token and a node's
new name made with the API appear on open pages without a reload (the events socket's
``identity`` and ``node`` messages, no polling); invitations not used yet are listed and
withdrawn; unused networks are pruned (by the test's own label only: the engine is shared); an
alert channel is edited. Who receives which message is proven in process
(tests/web/test_admin_live.py).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, expect

from docklord.testing import TEST_LABEL, unique_name
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

ADMIN_PASSWORD = "admin-test-password"  # noqa: S105 - the throw-away test coordinator's
PRUNE_LABEL = "docklord.test.prune"


@pytest.fixture
def networks() -> Iterator[list[str]]:
    """Networks a test made on the engine; removed after it (with what uses them first)."""
    made: list[str] = []
    yield made
    for name in made:
        # One the prune took is gone already: its removal fails, as expected.
        subprocess.run(["docker", "network", "rm", name], capture_output=True, check=False)


async def test_users_tokens_and_node_names_changed_elsewhere_appear_without_reload(
    page: Page, context: BrowserContext, ui_api: httpx.AsyncClient, ui_cluster: Cluster
) -> None:
    node = ui_cluster.node.node_id
    await sign_in(page, "admin", ADMIN_PASSWORD, "/users")
    await expect(page.locator('tr[data-testid="user-row"][data-username="vera"]')).to_be_visible()
    fleet = await context.new_page()  # a second browser tab, signed in by the same cookie
    await fleet.goto("/nodes")
    card = fleet.locator(f'[data-testid="node"][data-node="{node}"]')
    await expect(card).to_be_visible()
    for tab in (page, fleet):
        await mark_no_reload(tab)

    # A user made with the API (another admin, curl) appears on the open users page.
    username = unique_name("curl-user")
    made = await ui_api.post(
        "/api/v1/users",
        json={"username": username, "password": "curl-user-password", "role": "operator"},
    )
    assert made.status_code == 201, made.text
    row = page.locator(f'tr[data-testid="user-row"][data-username="{username}"]')
    await expect(row).to_contain_text("operator")
    deleted = await ui_api.delete(f"/api/v1/users/{made.json()['id']}")
    assert deleted.status_code == 204
    await expect(row).to_have_count(0)

    # A node renamed with the API is renamed in the other tab.
    new_name = unique_name("renamed")
    renamed = await ui_api.patch(f"/api/v1/nodes/{node}", json={"name": new_name})
    assert renamed.status_code == 200, renamed.text
    try:
        await expect(card.get_by_role("heading", name=new_name)).to_be_visible()
    finally:
        await ui_api.patch(f"/api/v1/nodes/{node}", json={"name": ""})

    # A token made with the API (the admin's own, with curl) appears on the open account page.
    await page.locator("a.who").click()
    await expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    token_name = unique_name("curl-token")
    created = await ui_api.post("/api/v1/tokens", json={"name": token_name})
    assert created.status_code == 201, created.text
    token_row = page.locator(f'tr[data-testid="token-row"][data-name="{token_name}"]')
    await expect(token_row).to_contain_text("active")
    revoked = await ui_api.delete(f"/api/v1/tokens/{created.json()['id']}")
    assert revoked.status_code == 204
    await expect(token_row).to_contain_text("revoked")
    for tab in (page, fleet):
        await assert_no_reload(tab)
    await fleet.close()


async def test_networks_are_pruned_invitations_withdrawn_and_a_channel_edited(
    page: Page,
    ui_api: httpx.AsyncClient,
    ui_cluster: Cluster,
    networks: list[str],
    cli_container: Callable[..., str],  # after networks: its container goes first
) -> None:
    node = ui_cluster.node.node_id
    marker = unique_name("prune")
    used, unused = unique_name("ui-net"), unique_name("ui-net")
    for name in (used, unused):
        networks.append(name)
        docker("network", "create", "--label", f"{TEST_LABEL}=1",
               "--label", f"{PRUNE_LABEL}={marker}", name)  # fmt: skip
    user = cli_container()
    docker("network", "connect", used, user)
    await sign_in(page, "admin", ADMIN_PASSWORD, f"/networks?node={node}")
    await mark_no_reload(page)
    table = page.get_by_role("table", name="Networks")
    used_row = table.locator(f'tr[data-testid="network-row"][data-name="{used}"]')
    unused_row = table.locator(f'tr[data-testid="network-row"][data-name="{unused}"]')
    await expect(used_row.get_by_role("link", name=user)).to_be_visible()
    await expect(unused_row.get_by_text("unused")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / "networks-desktop.png")
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await page.screenshot(path=SCREENSHOTS / "networks-phone.png", full_page=True)
    await page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]

    # The test's own label only: a prune of the whole shared engine would take others' networks.
    await page.get_by_label("Prune only networks with label").fill(f"{PRUNE_LABEL}={marker}")
    await page.get_by_role("button", name="Prune…").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_test_id("prune-preview").locator("li")).to_have_text([unused])
    await dialog.get_by_role("button", name="Prune").click()
    await expect(page.get_by_test_id("prune-result")).to_have_text("Pruned 1 network")
    await expect(unused_row).to_have_count(0)
    await expect(used_row).to_be_visible()

    # An invitation made with the API shows on the nodes page, and is withdrawn there.
    await page.get_by_role("link", name="Nodes").click()
    invited_id = unique_name("invited")
    invited = await ui_api.post(
        "/api/v1/nodes", json={"mode": "token", "node_id": invited_id, "name": "edge"}
    )
    assert invited.status_code == 201, invited.text
    invitation = page.locator(f'tr[data-testid="invitation-row"][data-node="{invited_id}"]')
    await expect(invitation).to_contain_text("edge")
    await invitation.get_by_role("button", name=f"Withdraw the invitation of {invited_id}").click()
    await page.get_by_role("dialog").get_by_role("button", name="Withdraw").click()
    await expect(invitation).to_have_count(0)
    assert (await ui_api.get("/api/v1/enrollments")).json()["enrollments"] == []

    # A channel is edited in place; its secret URL stays and is never shown.
    channel_name = unique_name("hook")
    secret = "https://hooks.example.test/T0/B0/ui-secret-path"
    made = await ui_api.post("/api/v1/alerts/channels", json={"name": channel_name, "url": secret})
    assert made.status_code == 201, made.text
    await page.get_by_role("link", name="Alerts", exact=True).click()
    await page.get_by_role("button", name=f"Edit channel {channel_name}").click()
    form = page.get_by_role("form", name=f"Edit channel {channel_name}")
    await form.get_by_label("Name").fill(f"{channel_name}-2")
    await form.get_by_label("Attempts").fill("3")
    await form.get_by_role("button", name="Save channel").click()
    row = page.locator(f'tr[data-testid="channel-row"][data-name="{channel_name}-2"]')
    await expect(row).to_contain_text("3 ×")
    await expect(row).to_contain_text("https://hooks.example.test")
    assert "ui-secret-path" not in await page.content()
    channel = (await ui_api.get(f"/api/v1/alerts/channels/{made.json()['id']}")).json()
    assert (channel["name"], channel["max_attempts"]) == (f"{channel_name}-2", 3)
    await ui_api.delete(f"/api/v1/alerts/channels/{made.json()['id']}")
    await assert_no_reload(page)

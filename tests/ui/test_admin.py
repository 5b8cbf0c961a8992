"""The admin pages end to end (Debian Chromium over real coordinator and node processes): adding
a node in the UI and running the command it shows, renaming and revoking it; users and roles;
your own password and API tokens (the token shown once, then never again)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from docklord.testing import eventually
from tests.e2e.conftest import Cluster
from tests.ui.conftest import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    assert_no_reload,
    mark_no_reload,
    sign_in,
)

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "admin-test-password"
OPERATOR_PASSWORD = "operator-test-password"
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")

PastedNode = Callable[[str], subprocess.Popen[bytes]]


@pytest.fixture
def pasted_node(tmp_path: Path, docker_host: str) -> Iterator[PastedNode]:
    """Run a command line copied from the page as a real ``docklord node`` process: the words
    of ``shlex.split``, leading ``NAME=value`` words into its environment, as a shell would.
    Only machine-local settings are added: its state dir in ``tmp_path`` and the engine under
    test (``DOCKER_HOST``, which the pasted command reads from the environment anyway)."""
    started: list[subprocess.Popen[bytes]] = []

    def run(command: str) -> subprocess.Popen[bytes]:
        words = shlex.split(command)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKLORD_")}
        env["DOCKER_HOST"] = docker_host
        while words and ASSIGNMENT.fullmatch(words[0]):
            name, value = words.pop(0).split("=", 1)
            env[name] = value
        assert words[:2] == ["docklord", "node"], words
        executable = shutil.which("docklord")
        assert executable, "docklord is not on PATH"
        with open(tmp_path / "pasted-node.log", "ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - the command the page showed
                [executable, *words[1:], f"--state-dir={tmp_path / 'pasted-state'}"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        started.append(proc)
        return proc

    yield run
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    log_path = tmp_path / "pasted-node.log"
    if log_path.exists():
        print(f"--- pasted node log ---\n{log_path.read_text(errors='replace')[-20000:]}")


def card(page: Page, node_id: str):  # type: ignore[no-untyped-def]
    return page.locator(f'[data-testid="node"][data-node="{node_id}"]')


async def test_an_admin_adds_a_node_runs_its_command_renames_and_revokes_it(
    page: Page,
    context: BrowserContext,
    pasted_node: PastedNode,
    ui_api: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    await sign_in(page, "admin", ADMIN_PASSWORD, "/nodes")
    await mark_no_reload(page)
    await page.get_by_role("button", name="Add node").click()
    form = page.get_by_role("form", name="Add node")
    await form.get_by_label("Name").fill("ui-added")
    await form.get_by_label("Labels").fill("zone=a")
    await form.get_by_role("button", name="Create").click()
    command = (await page.get_by_test_id("node-command").inner_text()).strip()
    assert command.startswith("DOCKLORD_PASSWORD=") and " docklord node " in command, command
    node_id = next(w.split("=", 1)[1] for w in shlex.split(command) if w.startswith("--node-id="))
    await page.get_by_role("button", name="Copy").click()
    await expect(page.get_by_role("status").filter(has_text="Copied")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == command
    added = card(page, node_id)
    await expect(added.locator(".status")).to_have_text("offline")
    await expect(added.get_by_role("heading")).to_have_text("ui-added")
    started = time.monotonic()
    proc = await asyncio.to_thread(pasted_node, command)
    await expect(added.locator(".status")).to_have_text("online")
    print(f"online in the page {time.monotonic() - started:.1f} s after the command started")
    await expect(added).to_contain_text("Host")  # the details came with the link
    await assert_no_reload(page)
    await page.screenshot(path=SCREENSHOTS / "nodes-admin-desktop.png")
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await page.screenshot(path=SCREENSHOTS / "nodes-admin-phone.png", full_page=True)
    await page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    await page.get_by_role("button", name="Done").click()
    await expect(page.get_by_test_id("node-command")).to_have_count(0)

    await added.get_by_role("button", name="Edit ui-added").click()
    await added.get_by_role("textbox", name="Name").fill("ui-renamed")
    await added.get_by_role("textbox", name="Labels").fill("zone=b, tier=web")
    await added.get_by_role("button", name="Save").click()
    await expect(added.get_by_role("heading")).to_have_text("ui-renamed")
    labels = added.get_by_role("list", name="Labels").get_by_role("listitem")
    await expect(labels).to_have_count(2)
    for label in ("zone=b", "tier=web"):
        await expect(labels.filter(has_text=label)).to_have_count(1)
    shown = (await ui_api.get(f"/api/v1/nodes/{node_id}")).json()
    assert (shown["name"], shown["labels"]) == ("ui-renamed", {"zone": "b", "tier": "web"})

    await added.get_by_role("button", name="Revoke ui-renamed").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("Revoke node ui-renamed?")
    await dialog.get_by_role("button", name="Revoke").click()
    await expect(added).to_have_count(0)

    async def ended() -> bool:
        return proc.poll() is not None

    await eventually(ended, timeout=20, what="the revoked node process ends")
    log = (tmp_path / "pasted-node.log").read_text(errors="replace")
    assert f"node {node_id} is revoked" in log, log
    assert (await ui_api.get(f"/api/v1/nodes/{node_id}")).status_code == 404
    listed = (await ui_api.get("/api/v1/nodes")).json()["nodes"]
    assert node_id not in [n["node_id"] for n in listed]
    await assert_no_reload(page)


async def test_a_node_added_with_an_enrolment_token_appears_when_it_enrolls(
    page: Page, pasted_node: PastedNode, ui_api: httpx.AsyncClient
) -> None:
    await sign_in(page, "admin", ADMIN_PASSWORD, "/nodes")
    await mark_no_reload(page)
    await page.get_by_role("button", name="Add node").click()
    form = page.get_by_role("form", name="Add node")
    await form.get_by_label("Enrolment token").check()
    await form.get_by_label("Name").fill("ui-enrolled")
    await form.get_by_label("Labels").fill("zone=c")
    await form.get_by_role("button", name="Create").click()
    command = (await page.get_by_test_id("node-command").inner_text()).strip()
    assert command.startswith("DOCKLORD_ENROLL_TOKEN=") and "--node-id" not in command, command
    before = {n["node_id"] for n in (await ui_api.get("/api/v1/nodes")).json()["nodes"]}
    await asyncio.to_thread(pasted_node, command)
    enrolled = page.locator('[data-testid="node"]').filter(
        has=page.get_by_role("heading", name="ui-enrolled")
    )
    await expect(enrolled.locator(".status")).to_have_text("online")
    await expect(enrolled.get_by_role("list", name="Labels")).to_have_text("zone=c")
    node_id = await enrolled.get_attribute("data-node")
    assert node_id and node_id not in before
    await assert_no_reload(page)
    await enrolled.get_by_role("button", name="Revoke ui-enrolled").click()
    await page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    await expect(enrolled).to_have_count(0)


def user_row(page: Page, username: str):  # type: ignore[no-untyped-def]
    return page.locator(f'tr[data-testid="user-row"][data-username="{username}"]')


async def create_user(page: Page, username: str, role: str, nodes: str = "") -> None:
    form = page.get_by_role("form", name="New user")
    await form.get_by_label("Username").fill(username)
    await form.get_by_label("Password").fill(OPERATOR_PASSWORD)
    await form.get_by_label("Role").select_option(role)
    await form.get_by_label("Nodes").fill(nodes)
    await form.get_by_role("button", name="Create user").click()
    await expect(user_row(page, username)).to_be_visible()


async def test_an_admin_manages_users(
    page: Page, ui_api: httpx.AsyncClient, ui_cluster: Cluster
) -> None:
    await sign_in(page, "admin", ADMIN_PASSWORD, "/containers")
    await page.get_by_role("navigation").get_by_role("link", name="Users").click()
    await create_user(page, "dora", "viewer")
    dora = user_row(page, "dora")
    await dora.get_by_label("Role of dora").select_option("operator")
    await dora.get_by_role("button", name="Nodes of dora").click()
    await page.get_by_role("dialog").get_by_label("Nodes").fill(ui_cluster.node.node_id)
    await page.get_by_role("dialog").get_by_role("button", name="Save").click()
    await expect(dora).to_contain_text(ui_cluster.node.node_id)
    await dora.get_by_role("button", name="Disable dora").click()
    await expect(dora).to_contain_text("disabled")
    users = {u["username"]: u for u in (await ui_api.get("/api/v1/users")).json()["users"]}
    assert users["dora"]["role"] == "operator" and users["dora"]["disabled"]
    assert users["dora"]["node_grants"] == [ui_cluster.node.node_id]
    login = {"username": "dora", "password": OPERATOR_PASSWORD}
    refused = await ui_api.post("/api/v1/auth/login", json=login)
    assert refused.status_code == 401, refused.text
    await dora.get_by_role("button", name="Enable dora").click()
    await expect(dora).to_contain_text("enabled")
    await dora.get_by_role("button", name="Reset password of dora").click()
    await page.get_by_role("dialog").get_by_label("New password").fill("a-fresh-password")
    await page.get_by_role("dialog").get_by_role("button", name="Save").click()
    await expect(dora.get_by_role("status")).to_have_text("Password reset; sessions ended")
    login["password"] = "a-fresh-password"  # noqa: S105 - throw-away test account
    signed = await ui_api.post("/api/v1/auth/login", json=login)
    assert signed.status_code == 200, signed.text
    await page.screenshot(path=SCREENSHOTS / "users-desktop.png")
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await page.screenshot(path=SCREENSHOTS / "users-phone.png", full_page=True)
    await page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    await dora.get_by_role("button", name="Delete dora").click()
    await page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    await expect(dora).to_have_count(0)
    users = {u["username"]: u for u in (await ui_api.get("/api/v1/users")).json()["users"]}
    assert "dora" not in users
    # The last admin stays: the API's refusal shows in the row.
    await user_row(page, "admin").get_by_label("Role of admin").select_option("viewer")
    await expect(user_row(page, "admin").get_by_role("alert")).to_contain_text("admin")
    assert (await ui_api.get("/api/v1/me")).json()["role"] == "admin"


async def test_an_operator_made_in_the_ui_stops_a_container_but_not_users(
    page: Page,
    browser: Browser,
    ui_cluster: Cluster,
    cli_container: Callable[..., str],
) -> None:
    await sign_in(page, "admin", ADMIN_PASSWORD, "/users")
    await create_user(page, "olga", "operator", ui_cluster.node.node_id)
    await expect(user_row(page, "olga")).to_contain_text(ui_cluster.node.node_id)
    name = await asyncio.to_thread(cli_container)
    context = await browser.new_context(base_url=ui_cluster.coordinator.url, viewport=DESKTOP)
    try:
        olga = await context.new_page()
        await sign_in(
            olga, "olga", OPERATOR_PASSWORD, f"/containers/{ui_cluster.node.node_id}/{name}"
        )
        await expect(olga.get_by_text("olga (operator)")).to_be_visible()
        nav = olga.get_by_role("navigation")
        await expect(nav.get_by_role("link", name="Nodes")).to_be_visible()
        await expect(nav.get_by_role("link", name="Users")).to_have_count(0)
        container = olga.get_by_test_id("container-page")
        await expect(container).to_have_attribute("data-state", "running")
        await olga.get_by_role("button", name="Stop", exact=True).click()
        await expect(container).to_have_attribute("data-state", "exited")
        refused = await olga.request.get("/api/v1/users")  # the same session cookie
        assert refused.status == 403, await refused.text()
        await olga.goto("/nodes")
        await expect(olga.get_by_test_id("node")).to_have_count(1)
        await expect(olga.get_by_role("button", name="Add node")).to_have_count(0)
        await expect(olga.get_by_role("button", name=re.compile("^Revoke"))).to_have_count(0)
        await change_own_password(olga)
    finally:
        await context.close()


async def change_own_password(page: Page) -> None:
    """The operator changes their password on /account: the page stays signed in and live."""
    await mark_no_reload(page)
    await page.get_by_role("link", name="olga (operator)").click()
    form = page.get_by_role("form", name="Change password")
    await form.get_by_label("Current password").fill(OPERATOR_PASSWORD)
    await form.get_by_label("New password", exact=True).fill("olga-new-password")
    await form.get_by_label("New password again").fill("olga-new-password")
    await form.get_by_role("button", name="Change password").click()
    await expect(form.get_by_role("status")).to_have_text("Password changed.")
    await expect(page.get_by_test_id("socket-state")).to_have_text("live")
    me = await page.request.get("/api/v1/me")
    assert me.status == 200 and (await me.json())["username"] == "olga"
    await assert_no_reload(page)


def curl_me(url: str, token: str) -> tuple[int, dict[str, object]]:
    done = subprocess.run(  # noqa: S603 - fixed arguments
        ["curl", "-sS", "-w", "\n%{http_code}", "-H", f"Authorization: Bearer {token}",
         f"{url}/api/v1/me"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    body, _, status = done.stdout.rpartition("\n")
    return int(status), json.loads(body)


async def test_a_token_made_in_the_ui_works_with_curl_and_is_never_shown_again(
    page: Page, ui_cluster: Cluster
) -> None:
    await sign_in(page, "admin", ADMIN_PASSWORD, "/containers")
    await page.get_by_role("link", name="admin (admin)").click()
    await expect(page.get_by_role("heading", name="Account")).to_be_visible()
    form = page.get_by_role("form", name="New token")
    await form.get_by_label("Name").fill("ci-token")
    await form.get_by_role("button", name="Create token").click()
    token = (await page.get_by_test_id("new-token").inner_text()).strip()
    row = page.locator('tr[data-testid="token-row"][data-name="ci-token"]')
    await expect(row).to_be_visible()
    prefix = (await row.locator("code").inner_text()).rstrip("…")
    assert len(token) > 20 and token.startswith(prefix), (prefix, len(token))
    status, me = await asyncio.to_thread(curl_me, ui_cluster.coordinator.url, token)
    assert status == 200 and me["username"] == "admin" and me["via"] == "token", me
    await page.reload()
    await expect(row).to_be_visible()
    await expect(row.locator("td").nth(4)).not_to_have_text("never")  # last used: by curl
    assert token not in await page.content()
    await expect(page.get_by_test_id("new-token")).to_have_count(0)
    await page.screenshot(path=SCREENSHOTS / "account-desktop.png", full_page=True)
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await page.screenshot(path=SCREENSHOTS / "account-phone.png", full_page=True)
    await page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    await row.get_by_role("button", name="Revoke token ci-token").click()
    await page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    await expect(row).to_contain_text("revoked")
    status, _ = await asyncio.to_thread(curl_me, ui_cluster.coordinator.url, token)
    assert status == 401

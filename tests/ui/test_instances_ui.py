"""The instances page in Chromium (the DockHost flow), over real processes and the real engine.

A second node, linked to the module's coordinator, holds the instances: it publishes their
ports on 127.0.0.1 from a random base (as ``tests/e2e/test_instances.py`` does). The user of
these tests may use that node only, so their box always lands there. The SSH login is the real
OpenSSH client running the command the page shows.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, expect

from docklord.model import INSTANCE_LABEL, OWNER_LABEL
from docklord.testing import NodeProcess, eventually, unique_name
from tests.e2e.conftest import Cluster, wait_online
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
SSH_LINE = re.compile(r"^ssh -p (\d+) (\w+)@(\S+)$")


@dataclass
class Box:
    """The instance node and the user who gets a box on it."""

    node: NodeProcess
    username: str
    password: str
    user_id: int


@pytest.fixture(scope="module")
async def box(
    ui_cluster: Cluster,
    ui_api: httpx.AsyncClient,
    docker_host: str,
    instance_image: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Box]:
    base = 23_000 + secrets.randbelow(400) * 10
    node = NodeProcess(
        [ui_cluster.coordinator.ws_url],
        unique_name("inode"),
        secrets.token_urlsafe(16),
        docker_host=docker_host,
        workdir=tmp_path_factory.mktemp("instance-node"),
        extra_args=["--instance-host-ip=127.0.0.1", f"--instance-port-base={base}"],
    )
    node.start()
    username, password = unique_name("ivy"), secrets.token_urlsafe(12)
    try:
        await wait_online(ui_api, node.node_id)
        made = await ui_api.post(
            "/api/v1/users",
            json={"username": username, "password": password, "node_grants": [node.node_id]},
        )
        assert made.status_code == 201, made.text
        user_id = made.json()["id"]
        try:
            yield Box(node, username, password, user_id)
        finally:
            await _remove_instances(ui_api, username)
            await ui_api.delete(f"/api/v1/users/{user_id}")
    finally:
        node.stop()


async def _remove_instances(admin: httpx.AsyncClient, owner: str) -> None:
    """Delete what a failed test left of the user's instances, through the API, then on the
    engine in case the node could not."""
    everyone = (await admin.get("/api/v1/instances", params={"all": "true"})).json()
    for instance in everyone["instances"]:
        if instance["owner"] == owner:
            await admin.delete(f"/api/v1/instances/{instance['id']}", timeout=60)
    left = _docker("ps", "-aq", "--filter", f"label={OWNER_LABEL}={owner}").split()
    if left:
        _docker("rm", "-f", *left)


def _docker(*args: str) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def keygen(tmp_path: Path) -> Path:
    key = tmp_path / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ivy@laptop", "-f", str(key)],
        check=True,
    )
    return key


async def ssh_as_shown(command: str, key: Path, *remote: str) -> subprocess.CompletedProcess[str]:
    """The page's ``ssh -p PORT USER@HOST`` with only the key and no host-key bookkeeping."""
    argv = command.split()
    extra = ["-i", str(key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
    return await asyncio.to_thread(
        subprocess.run,
        [argv[0], *extra, *argv[1:], *remote],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # no terminal to ask for a password on
        timeout=30,
        check=False,
    )


def refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def card(page: Page) -> Locator:
    return page.get_by_test_id("instance")


async def create_from_the_page(page: Page, public_key: str) -> None:
    await page.get_by_label("SSH public key").fill(public_key)
    await page.get_by_role("button", name="Create instance").click()


async def screenshots(page: Page) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / "instances-desktop.png")
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await expect(card(page).get_by_test_id("ssh-command")).to_be_visible()
    await page.screenshot(path=SCREENSHOTS / "instances-phone.png", full_page=True)
    await page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]


async def test_a_user_gets_a_box_logs_in_with_the_shown_command_and_deletes_it(
    page: Page,
    box: Box,
    ui_api: httpx.AsyncClient,
    ui_cluster: Cluster,
    browser: Browser,
    tmp_path: Path,
) -> None:
    key = keygen(tmp_path)
    await sign_in(page, box.username, box.password, "/instances")
    await expect(page.get_by_test_id("no-instances")).to_be_visible()
    await create_from_the_page(page, key.with_suffix(".pub").read_text())

    shown = card(page).get_by_test_id("ssh-command")
    await expect(shown).to_have_text(SSH_LINE)
    await expect(card(page).locator(".state")).to_have_text("running")
    command = await shown.inner_text()
    match = SSH_LINE.match(command)
    assert match is not None
    port, user, host = int(match[1]), match[2], match[3]
    assert (user, host) == ("root", "127.0.0.1")  # the coordinator's host, as the page sees it
    await expect(card(page).get_by_test_id("http-port")).to_have_text(f"{host}:{port + 1}")
    await expect(card(page).get_by_test_id("https-port")).to_have_text(f"{host}:{port + 2}")
    await expect(card(page).get_by_test_id("instance-node")).to_contain_text(box.node.node_id)

    async def logs_in() -> bool:
        done = await ssh_as_shown(command, key, "echo", "ok")
        return done.returncode == 0 and done.stdout == "ok\n"

    await eventually(logs_in, timeout=30, what=f"ssh login with {command!r}")
    await screenshots(page)

    # A second box: the user's one node already holds theirs (the API's quota message).
    await create_from_the_page(page, key.with_suffix(".pub").read_text())
    refusal = page.get_by_test_id("instance-error")
    await expect(refusal).to_contain_text("Quota reached")
    await expect(refusal).to_contain_text("you already have an instance on every node")

    listed = (await ui_api.get("/api/v1/instances", params={"all": "true"})).json()
    mine = [i for i in listed["instances"] if i["owner"] == box.username]
    assert [i["ports"]["ssh"] for i in mine] == [port]
    container_id = mine[0]["containerId"]

    # An admin sees it among everyone's, with its owner and node. Stopped behind both pages'
    # backs, both follow the engine: the user's through the events socket's instance messages,
    # the admin's through the container events (no reload, no polling).
    admin_context = await browser.new_context(base_url=ui_cluster.coordinator.url)
    try:
        admin = await admin_context.new_page()
        errors: list[str] = []
        admin.on("pageerror", lambda exc: errors.append(str(exc)))
        await sign_in(admin, "admin", ADMIN_PASSWORD, "/instances")
        theirs = admin.locator(f'[data-testid="instance"][data-instance="{mine[0]["id"]}"]')
        await expect(theirs.get_by_test_id("instance-owner")).to_have_text(box.username)
        await expect(theirs.get_by_test_id("instance-node")).to_contain_text(box.node.node_id)
        await expect(theirs.locator(".state")).to_have_text("running")
        await mark_no_reload(page)
        await asyncio.to_thread(_docker, "stop", "-t", "5", container_id)
        await expect(card(page).locator(".state")).to_have_text("exited")
        await expect(theirs.locator(".state")).to_have_text("exited")
        await assert_no_reload(page)
        assert not errors, f"errors in the admin's page: {errors}"
    finally:
        await admin_context.close()
    await card(page).get_by_role("button", name="Start").click()
    await expect(card(page).locator(".state")).to_have_text("running")

    await card(page).get_by_role("button", name="Delete").click()
    await expect(page.get_by_role("dialog")).to_contain_text(mine[0]["id"])
    await page.get_by_role("button", name="Delete instance").click()
    await expect(page.get_by_test_id("no-instances")).to_be_visible()

    gone = await asyncio.to_thread(_docker, "ps", "-aq", "--filter", f"id={container_id}")
    assert gone == ""
    assert _docker("ps", "-aq", "--filter", f"label={INSTANCE_LABEL}={mine[0]['id']}") == ""
    for freed in (port, port + 1, port + 2):
        assert await asyncio.to_thread(refuses_connections, freed), f"port {freed} still open"
    listed = (await ui_api.get("/api/v1/instances", params={"all": "true"})).json()
    assert [i for i in listed["instances"] if i["owner"] == box.username] == []


async def test_a_bad_key_shows_the_api_message_next_to_the_key_field(
    page: Page, box: Box, ui_api: httpx.AsyncClient, tmp_path: Path
) -> None:
    bad = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAnotakey ivy@laptop"
    answer = await ui_api.post("/api/v1/instances", json={"ssh_public_key": bad})
    assert answer.status_code == 422, answer.text
    (field,) = answer.json()["error"]["fields"]
    assert field["field"] == "ssh_public_key"

    await sign_in(page, box.username, box.password, "/instances")
    await create_from_the_page(page, bad)
    key_field = page.get_by_label("SSH public key")
    await expect(key_field).to_have_attribute("aria-invalid", "true")
    described = await key_field.get_attribute("aria-describedby")
    await expect(page.locator(f"#{described}")).to_have_text(field["message"])
    await expect(page.get_by_test_id("no-instances")).to_be_visible()

    # A .pub file uploaded instead fills the key field with its line.
    key = keygen(tmp_path)
    await page.get_by_label("Or upload a .pub file").set_input_files(key.with_suffix(".pub"))
    await expect(key_field).to_have_value(key.with_suffix(".pub").read_text().strip())

"""The create / run form end to end: Debian Chromium (Playwright) against real coordinator and
node processes over a real engine, checked with the docker CLI against DOCKER_HOST.

Everything a test creates carries the label ``docklord.test=1`` (the form's labels, the volume's
through the API) and is removed by name afterwards.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from playwright.async_api import BrowserContext, Locator, Page, expect

from docklord.testing import TEST_LABEL, free_port, unique_name
from tests.e2e.conftest import Cluster
from tests.ui.conftest import PHONE, SCREENSHOTS, VIEWER_PASSWORD, docker, sign_in

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "admin-test-password"
OPERATOR_PASSWORD = "operator-test-password"
BUSYBOX = "docklord-test/busybox:latest"
#: Stops at once on SIGTERM (busybox sh as PID 1 ignores it otherwise).
STOPPABLE = "sh -c \"trap 'exit 0' TERM; sleep 600 & wait\""


@dataclass
class Made:
    """Engine objects a test made (by name), removed after it."""

    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)


@pytest.fixture
def made() -> Iterator[Made]:
    objects = Made()
    yield objects
    for name in objects.containers:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    for name in objects.volumes:
        subprocess.run(["docker", "volume", "rm", name], capture_output=True, check=False)


async def go(page: Page, path: str) -> None:
    """Navigate inside the page (as a link does), without loading it again."""
    await page.evaluate(
        f"history.pushState(null, '', {path!r}); dispatchEvent(new PopStateEvent('popstate'))"
    )


def form_of(page: Page) -> Locator:
    return page.get_by_role("form", name="New container")


async def fill(scope: Locator, values: dict[str, str]) -> None:
    for label, text in values.items():
        await scope.get_by_label(label, exact=True).fill(text)


async def add_row(form: Locator, button: str, group: str) -> Locator:
    await form.get_by_role("button", name=button).click()
    return form.get_by_role("group", name=group)


async def inspect(name: str) -> dict[str, Any]:
    doc: list[dict[str, Any]] = json.loads(await asyncio.to_thread(docker, "inspect", name))
    return doc[0]


async def test_a_container_created_from_the_form_runs_with_its_env_port_and_volume(
    page: Page, ui_cluster: Cluster, ui_api: httpx.AsyncClient, made: Made
) -> None:
    node = ui_cluster.node.node_id
    name, volume, port = unique_name("create"), unique_name("vol"), free_port()
    made.containers.append(name)
    made.volumes.append(volume)
    # Made first through the API, so that it carries the test label (a volume the engine makes
    # on demand for a mount has none); the form then offers it among the node's volumes.
    labelled = {"name": volume, "labels": {TEST_LABEL: "1"}}
    created = await ui_api.post(f"{ui_cluster.base}/volumes", json=labelled)
    assert created.status_code == 201, created.text
    await sign_in(page, "admin", ADMIN_PASSWORD, "/nodes")
    card = page.locator(f'[data-testid="node"][data-node="{node}"]')
    await card.get_by_role("link", name="New container").click()
    await expect(page).to_have_url(re.compile(rf"/create\?node={node}$"))
    form = form_of(page)
    await expect(page.locator(f'#create-images option[value="{BUSYBOX}"]')).to_have_count(1)
    await expect(page.locator(f'#create-volumes option[value="{volume}"]')).to_have_count(1)
    await fill(form, {"image": BUSYBOX, "name": name, "cmd": STOPPABLE})
    await form.get_by_role("button", name="Add variable").click()
    await fill(form, {"env 1 key": "GREETING", "env 1 value": "hello world"})
    bound = {"host_ip": "127.0.0.1", "host_port": str(port), "container_port": "8080"}
    await fill(await add_row(form, "Add port", "Port 1"), bound)
    mount = await add_row(form, "Add volume", "Mount 1")
    await expect(mount.get_by_label("type").locator("option")).to_have_text(["volume", "bind"])
    await expect(page.locator('#create-networks option[value="host"]')).to_have_count(1)
    await fill(mount, {"source": volume, "target": "/data"})
    await form.get_by_role("button", name="Add label").click()
    await fill(form, {"label 1 key": TEST_LABEL, "label 1 value": "1"})
    await expect(page.get_by_test_id("docker-run")).to_have_text(
        f"docker run -d --name {name} -e 'GREETING=hello world' -p 127.0.0.1:{port}:8080"
        f" -v {volume}:/data --label {TEST_LABEL}=1 {BUSYBOX}"
        " sh -c 'trap '\\''exit 0'\\'' TERM; sleep 600 & wait'"
    )
    await form.get_by_role("button", name="Create").click()
    await expect(page).to_have_url(re.compile(rf"/containers/{node}/[0-9a-f]{{64}}$"))
    await expect(page.get_by_test_id("container-page")).to_have_attribute("data-state", "running")
    await expect(page.get_by_role("heading", name=name)).to_be_visible()

    doc = await inspect(name)
    assert doc["State"]["Running"] is True
    assert "GREETING=hello world" in doc["Config"]["Env"]
    assert doc["HostConfig"]["PortBindings"] == {
        "8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
    }
    mounts = [(m["Type"], m.get("Name"), m["Destination"], m["RW"]) for m in doc["Mounts"]]
    assert mounts == [("volume", volume, "/data", True)]
    assert doc["Config"]["Labels"][TEST_LABEL] == "1"


async def test_a_bad_port_shows_the_api_message_next_to_the_port_field(
    page: Page, ui_cluster: Cluster, made: Made
) -> None:
    name = unique_name("badport")
    made.containers.append(name)
    await sign_in(page, "admin", ADMIN_PASSWORD, "/containers")
    await page.get_by_role("link", name="New container").click()
    form = form_of(page)
    await fill(form, {"image": BUSYBOX, "name": name})
    # The first row stays empty (not sent): the API's ports.0 is the form's second row.
    await add_row(form, "Add port", "Port 1")
    port = await add_row(form, "Add port", "Port 2")
    await fill(port, {"container_port": "80", "host_port": "70000"})
    host_port = port.get_by_label("host_port", exact=True)
    for typed, message in (
        ("70000", "Input should be less than or equal to 65535"),
        ("abc", "Input should be a valid integer"),
    ):
        await host_port.fill(typed)
        await form.get_by_role("button", name="Create").click()
        await expect(host_port).to_have_attribute("aria-invalid", "true")
        await expect(host_port).to_have_accessible_description(message)
        await expect(port.get_by_test_id("field-error-ports.1.host_port")).to_have_text(message)
        await expect(page.get_by_test_id("create-error")).to_have_text(
            "The API refused some fields: see the messages next to them."
        )
    assert await asyncio.to_thread(docker, "ps", "-aq", "--filter", f"name=^/{name}$") == ""
    await expect(
        form.get_by_role("group", name="Port 1").get_by_label("host_port")
    ).not_to_have_attribute("aria-invalid", "true")


async def test_the_docker_run_line_follows_the_form_and_runs_in_a_shell(
    page: Page, context: BrowserContext, ui_cluster: Cluster, made: Made
) -> None:
    """The line, pasted into ``sh``, makes the container the form describes (quoting kept)."""
    name = unique_name("runline")
    made.containers.append(name)
    await sign_in(page, "admin", ADMIN_PASSWORD, f"/create?node={ui_cluster.node.node_id}")
    form = form_of(page)
    await fill(
        form, {"image": BUSYBOX, "name": name, "entrypoint": "/bin/sh", "cmd": "-c 'echo hi'"}
    )
    await form.get_by_text("Paste a .env file").click()
    dotenv = '# a comment\nQUOTE=it\'s "quoted" $HOME `x`\n\nexport SPACED="two  words"\n'
    await form.get_by_label(".env file").fill(dotenv)
    await form.get_by_role("button", name="Add to env").click()
    await expect(form.get_by_text("2 added")).to_be_visible()
    await fill(await add_row(form, "Add port", "Port 1"), {"container_port": "53"})
    await form.get_by_role("group", name="Port 1").get_by_label("protocol").select_option("udp")
    await form.get_by_role("button", name="Add label").click()
    await fill(form, {"label 1 key": TEST_LABEL, "label 1 value": "1"})
    await form.get_by_label("restart_policy").select_option("on-failure")
    await fill(form, {"restart_max_retries": "2", "cpus": "0.5", "memory": "64m"})
    await form.get_by_label("start now").uncheck()
    line = (
        f"docker create --name {name} -e 'QUOTE=it'\\''s \"quoted\" $HOME `x`'"
        f" -e 'SPACED=two  words' -p 53/udp --label {TEST_LABEL}=1 --restart on-failure:2"
        f" --cpus 0.5 --memory 64m --entrypoint /bin/sh {BUSYBOX} -c 'echo hi'"
    )
    await expect(page.get_by_test_id("docker-run")).to_have_text(line)
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.get_by_role("button", name="Copy").click()
    await expect(page.get_by_role("status").filter(has_text="Copied")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == line

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / "create-desktop.png", full_page=True)
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await page.screenshot(path=SCREENSHOTS / "create-phone.png", full_page=True)

    done = await asyncio.to_thread(
        subprocess.run, ["sh", "-c", line], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    doc = await inspect(name)
    env = doc["Config"]["Env"]
    assert 'QUOTE=it\'s "quoted" $HOME `x`' in env
    assert "SPACED=two  words" in env
    assert doc["Config"]["Entrypoint"] + doc["Config"]["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert doc["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert doc["HostConfig"]["Memory"] == 64 * 1024 * 1024
    assert doc["HostConfig"]["NanoCpus"] == 500_000_000
    assert "53/udp" in doc["HostConfig"]["PortBindings"]


async def test_an_operator_is_offered_no_bind_mount_and_no_host_network(
    page: Page, ui_cluster: Cluster, ui_api: httpx.AsyncClient
) -> None:
    """The API refuses both to operators (docs/SECURITY.md, the create policy)."""
    user = {"username": "olga", "password": OPERATOR_PASSWORD, "role": "operator"}
    created = await ui_api.post("/api/v1/users", json=user)
    assert created.status_code == 201, created.text
    await sign_in(page, "olga", OPERATOR_PASSWORD, "/containers")
    await page.get_by_role("link", name="New container").click()
    form = form_of(page)
    await expect(page.locator('#create-networks option[value="bridge"]')).to_have_count(1)
    await expect(page.locator('#create-networks option[value="host"]')).to_have_count(0)
    mount = await add_row(form, "Add volume", "Mount 1")
    await expect(mount.get_by_label("source", exact=True)).to_be_visible()
    await expect(mount.get_by_label("type")).to_have_count(0)
    await expect(form.get_by_text("Bind mounts (host paths) are for admins only.")).to_be_visible()


async def test_a_viewer_sees_no_new_container_control(page: Page, ui_cluster: Cluster) -> None:
    await sign_in(page, "vera", VIEWER_PASSWORD, "/containers")
    await expect(page.get_by_role("heading", name="Containers")).to_be_visible()
    await expect(page.get_by_role("link", name="New container")).to_have_count(0)
    await go(page, "/nodes")
    node = page.locator(f'[data-testid="node"][data-node="{ui_cluster.node.node_id}"]')
    await expect(node).to_be_visible()
    await expect(node.get_by_role("link", name="New container")).to_have_count(0)
    await go(page, f"/create?node={ui_cluster.node.node_id}")
    await expect(page.get_by_text("Creating a container needs the operator role.")).to_be_visible()
    await expect(form_of(page)).to_have_count(0)

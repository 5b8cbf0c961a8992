"""Fixtures for the browser tests: one coordinator + node (real processes, real engine) and one
Debian Chromium driven by Playwright for the whole module.

Chromium is the Debian package (``/usr/bin/chromium``, installed by ``./scripts/test``), never
a browser downloaded by ``playwright install``.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from docklord.testing import TEST_LABEL, unique_name
from tests.e2e.conftest import Cluster, api, running_cluster, wait_online

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}
VIEWER_PASSWORD = "viewer-test-password"
#: A container that stops at once on SIGTERM (busybox sh as PID 1 ignores it otherwise).
STOPPABLE = ("sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait")

expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def ui_cluster(
    tmp_path_factory: pytest.TempPathFactory, docker_host: str, busybox_image: str
) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("ui"), docker_host) as started:
        yield started


@pytest.fixture(autouse=True)
def process_logs(request: pytest.FixtureRequest, ui_cluster: Cluster) -> Iterator[None]:
    """Print what the coordinator and the node logged during the test (pytest shows it when
    the test failed), and fail a test in which the node's link dropped, unless the test is
    marked ``relinks``: a dropped link is a defect of its own, which a UI that reconnects
    would otherwise hide."""
    procs = {"coordinator": ui_cluster.coordinator, "node": ui_cluster.node}
    start = {name: _log_size(proc.log_path) for name, proc in procs.items()}
    yield
    logged = {name: _log_since(proc.log_path, start[name]) for name, proc in procs.items()}
    for name, text in logged.items():
        print(f"--- {name} log during the test ---\n{text[-20000:]}")
    if request.node.get_closest_marker("relinks") is None:
        drops = [line for line in logged["node"].splitlines() if "link down" in line]
        assert not drops, f"the node's link dropped during the test: {drops}"


def _log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _log_since(path: Path, offset: int) -> str:
    with open(path, "rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


@pytest.fixture(scope="module")
async def ui_api(ui_cluster: Cluster) -> AsyncIterator[httpx.AsyncClient]:
    """An admin API client; the cluster's node is online and the viewer ``vera`` exists."""
    async with api(ui_cluster.coordinator, ui_cluster.token) as http:
        await wait_online(http, ui_cluster.node.node_id)
        created = await http.post(
            "/api/v1/users",
            json={"username": "vera", "password": VIEWER_PASSWORD, "role": "viewer"},
        )
        assert created.status_code == 201, created.text
        yield http


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        await launched.close()


@pytest.fixture
async def context(
    browser: Browser, ui_cluster: Cluster, ui_api: httpx.AsyncClient
) -> AsyncIterator[BrowserContext]:
    made = await browser.new_context(base_url=ui_cluster.coordinator.url, viewport=DESKTOP)
    yield made
    await made.close()


@pytest.fixture
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    """A page that fails the test on a script error or a Content-Security-Policy violation."""
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.on(
        "console",
        lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    yield opened
    assert not errors, f"errors in the page: {errors}"


async def sign_in(page: Page, username: str, password: str, path: str = "/") -> None:
    await page.goto(path)
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_test_id("socket-state")).to_have_text("live")


async def mark_no_reload(page: Page) -> None:
    """Set a flag in the page's JavaScript realm: a reload would lose it."""
    await page.evaluate("window.__docklordNoReload = true")


async def assert_no_reload(page: Page) -> None:
    assert await page.evaluate("window.__docklordNoReload === true"), "the page reloaded"


def docker(*args: str) -> str:
    """The docker CLI against the engine under test (DOCKER_HOST)."""
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def cli_container(busybox_image: str) -> Iterator[Callable[..., str]]:
    """``docker run -d --label docklord.test=1 ...`` straight on the engine; removed after."""
    made: list[str] = []

    def run(*cmd: str, name: str | None = None) -> str:
        name = name or unique_name("ui")
        made.append(name)
        docker("run", "-d", "--name", name, "--label", f"{TEST_LABEL}=1", busybox_image,
               *(cmd or STOPPABLE))  # fmt: skip
        return name

    yield run
    for name in made:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)

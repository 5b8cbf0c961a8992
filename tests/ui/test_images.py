"""The images, volumes and networks pages in the browser (Debian Chromium, Playwright) against
real coordinator and node processes, a real engine and the local test registry
(``docker-registry``). Lists change only through the events socket: each test checks that the
page never reloaded.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Locator, Page, expect

from docklord.testing import TEST_LABEL, eventually, unique_name
from tests.e2e.conftest import Cluster
from tests.ui.conftest import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    VIEWER_PASSWORD,
    assert_no_reload,
    docker,
    mark_no_reload,
    sign_in,
)

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "admin-test-password"  # noqa: S105 - the throw-away test coordinator's
#: Big enough that the engine reports a layer's progress more than once (it reports at most
#: every 512 KiB and 100 ms), small enough to push in a second or two.
BLOB_BYTES = 32 * 1024 * 1024

#: Records every value each layer's progress bar shows, as the page renders it.
RECORD_BARS = """() => {
  window.__bars = [];
  new MutationObserver(() => {
    for (const el of document.querySelectorAll('[data-testid="layer-progress"]'))
      window.__bars.push([el.dataset.layer, el.dataset.phase, el.value, el.max]);
  }).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


def _run(*args: str, stdin: bytes | None = None) -> None:
    done = subprocess.run(["docker", *args], input=stdin, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")


@pytest.fixture(scope="module")
def pushed_image(registry: str, busybox_image: str) -> Iterator[str]:
    """A two-layer image in the test registry and not on the engine: busybox plus a layer of
    random bytes (built locally with ``docker build``, no Docker Hub)."""
    ref = f"{registry}/docklord-test/{unique_name('ui-big')}:1"
    with tempfile.TemporaryDirectory() as context:
        Path(context, "blob").write_bytes(os.urandom(BLOB_BYTES))
        Path(context, "Dockerfile").write_text(f"FROM {busybox_image}\nCOPY blob /blob\n")
        _run("build", "-q", "--label", f"{TEST_LABEL}=1", "-t", ref, context)
    try:
        _run("push", ref)
        _run("rmi", ref)
        yield ref
    finally:
        subprocess.run(["docker", "rmi", "-f", ref], capture_output=True, check=False)


def import_image(marker: str, *tag: str) -> str:
    """A tiny labelled image made with ``docker import`` (untagged unless ``tag``); its id."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo("marker.txt")
        info.size = len(marker)
        tar.addfile(info, io.BytesIO(marker.encode()))
    done = subprocess.run(
        ["docker", "import", "-c", f"LABEL {TEST_LABEL}=1", "-", *tag],
        input=archive.getvalue(), capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.decode().strip()


@pytest.fixture
def imported_image() -> Iterator[str]:
    """A tiny labelled image, tagged ``docklord-test/dl-ui-img-...:1``."""
    ref = f"docklord-test/{unique_name('ui-img')}:1"
    import_image(ref, ref)
    yield ref
    subprocess.run(["docker", "rmi", "-f", ref], capture_output=True, check=False)


@pytest.fixture
def dangling_image() -> Iterator[str]:
    """A tiny labelled image with no tag (what a dangling prune takes); its id."""
    image_id = import_image(unique_name("ui-dangling"))
    yield image_id
    subprocess.run(["docker", "rmi", "-f", image_id], capture_output=True, check=False)


@pytest.fixture
def made() -> Iterator[list[list[str]]]:
    """docker commands that undo what a test made (run after it, failures ignored)."""
    undo: list[list[str]] = []
    yield undo
    for args in reversed(undo):
        subprocess.run(["docker", *args], capture_output=True, check=False)


class StallingRelay:
    """A TCP relay to the registry that slows the registry's answer on a connection to a
    trickle once it has passed ``limit`` bytes (a blob download crawls part way, so a pull
    stays open until it is cancelled). ``hung_up`` counts slowed connections the engine
    closed."""

    def __init__(self, registry: str, limit: int) -> None:
        self.target = int(registry.rsplit(":", 1)[1])
        self.limit = limit
        self.stalled = 0
        self.hung_up = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _serve(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        upstream, to_registry = await asyncio.open_connection("127.0.0.1", self.target)
        stall = asyncio.Event()
        requests = asyncio.ensure_future(self._pipe(client, to_registry, None))
        answers = asyncio.ensure_future(self._pipe(upstream, to_client, stall))
        try:
            await asyncio.wait([requests, answers], return_when=asyncio.FIRST_COMPLETED)
            if stall.is_set() and requests.done():
                self.hung_up += 1  # the engine closed a connection the blob had stalled on
        finally:
            for task in (requests, answers):
                task.cancel()
            to_client.close()
            to_registry.close()

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, stall: asyncio.Event | None
    ) -> None:
        passed = 0
        while data := await source.read(65536):
            if stall is not None and passed + len(data) > self.limit:
                if not stall.is_set():
                    stall.set()
                    self.stalled += 1
                await self._trickle(data, sink)
                continue
            sink.write(data)
            await sink.drain()
            passed += len(data)

    @staticmethod
    async def _trickle(data: bytes, sink: asyncio.StreamWriter) -> None:
        """A slow link (about 80 KiB/s), not a dead one: the engine notices a cancelled pull
        only when a read of the layer returns, so the bytes must keep coming."""
        for at in range(0, len(data), 4096):
            sink.write(data[at : at + 4096])
            await sink.drain()
            await asyncio.sleep(0.05)  # the link's pace, not a wait for a condition


def image_row(page: Page, tag: str) -> Locator:
    return page.locator(f'tr[data-testid="image-row"][data-tags~="{tag}"]')


def increasing_bars(bars: list[list[object]]) -> dict[tuple[str, str], list[float]]:
    """Per (layer, phase) of Downloading or Extracting, the values shown, in order, when a
    bar showed at least two different ones."""
    seen: dict[tuple[str, str], list[float]] = {}
    for layer, phase, value, _max in bars:
        if phase in ("Downloading", "Extracting"):
            values = seen.setdefault((str(layer), str(phase)), [])
            if not values or values[-1] != value:
                values.append(float(value))  # type: ignore[arg-type]
    return {k: v for k, v in seen.items() if len(v) >= 2}


async def test_a_pull_shows_advancing_layer_bars_and_the_image_appears_live(
    page: Page, ui_cluster: Cluster, pushed_image: str
) -> None:
    node = ui_cluster.node.node_id
    await sign_in(page, "admin", ADMIN_PASSWORD, f"/images?node={node}")
    await expect(page.get_by_role("table", name="Images").locator("tbody tr").first).to_be_visible()
    await expect(image_row(page, pushed_image)).to_have_count(0)
    await mark_no_reload(page)
    await page.evaluate(RECORD_BARS)

    await page.get_by_label("Image reference").fill(pushed_image)
    await page.get_by_role("button", name="Pull", exact=True).click()
    pull = page.get_by_test_id("pull")
    await expect(pull).to_have_attribute("data-phase", "done", timeout=60_000)
    bars: list[list[object]] = await page.evaluate("window.__bars")
    advancing = increasing_bars(bars)
    assert advancing, f"no bar showed two progress values: {bars[-20:]}"
    for values in advancing.values():
        assert values == sorted(values), values  # a bar only moves forward within a phase
    # Both layers got a bar: busybox's "Already exists", the random one pulled.
    await expect(pull.get_by_test_id("layer-progress")).to_have_count(2)
    await expect(image_row(page, pushed_image)).to_be_visible()
    await expect(image_row(page, pushed_image).get_by_text("unused")).to_be_visible()
    await assert_no_reload(page)

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / "images-desktop.png")
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await page.get_by_label("Filter images").fill("docklord-test")  # the shared engine has more
    await expect(image_row(page, pushed_image)).to_be_visible()
    await page.screenshot(path=SCREENSHOTS / "images-phone.png", full_page=True)


async def test_cancelling_a_pull_ends_it_on_the_node(
    page: Page, ui_cluster: Cluster, registry: str, pushed_image: str
) -> None:
    # The same image through a relay that slows its big layer to a crawl after 2 MiB: the engine has
    # not got it (an earlier test may have pulled it under the registry's own address).
    await asyncio.to_thread(subprocess.run, ["docker", "rmi", "-f", pushed_image],
                            capture_output=True, check=False)  # fmt: skip
    relay = StallingRelay(registry, limit=2 * 1024 * 1024)
    ref = pushed_image.replace(registry, await relay.start())
    try:
        node = ui_cluster.node.node_id
        await sign_in(page, "admin", ADMIN_PASSWORD, f"/images?node={node}")
        await page.get_by_label("Image reference").fill(ref)
        await page.get_by_role("button", name="Pull", exact=True).click()
        downloading = page.locator('[data-testid="layer-progress"][data-phase="Downloading"]')
        await expect(downloading).to_have_count(1)
        await page.get_by_role("button", name="Cancel pull").click()
        pull = page.get_by_test_id("pull")
        await expect(pull).to_have_attribute("data-phase", "cancelled")
        await expect(pull).to_contain_text("the coordinator ended the pull on the node")

        async def engine_hung_up() -> bool:
            return relay.hung_up >= 1

        await eventually(engine_hung_up, what="the engine to close the slowed blob download")
        assert relay.stalled >= 1
        inspected = await asyncio.to_thread(
            subprocess.run, ["docker", "image", "inspect", ref], capture_output=True, check=False
        )
        assert inspected.returncode != 0, "the cancelled pull still made the image"
    finally:
        await relay.stop()
        await asyncio.to_thread(subprocess.run, ["docker", "rmi", "-f", ref],
                                capture_output=True, check=False)  # fmt: skip


async def test_removing_an_image_in_use_shows_the_api_conflict(
    page: Page,
    ui_cluster: Cluster,
    imported_image: str,
    dangling_image: str,
    made: list[list[str]],
) -> None:
    user = unique_name("ui-user")
    made.append(["rm", "-f", user])
    await asyncio.to_thread(
        docker, "create", "--name", user, "--label", f"{TEST_LABEL}=1", imported_image, "/none"
    )
    node = ui_cluster.node.node_id
    tag = imported_image.split("/", 1)[1].split(":")[0]
    await sign_in(page, "admin", ADMIN_PASSWORD, f"/images?node={node}&q={tag}")
    row = image_row(page, imported_image)
    await expect(row.get_by_role("link", name=user)).to_be_visible()  # used by, from the store
    await mark_no_reload(page)

    await row.get_by_role("button", name="Remove").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text(imported_image)
    async with page.expect_response(
        lambda r: r.request.method == "DELETE" and "/images/" in r.url
    ) as answered:
        await dialog.get_by_role("button", name="Remove").click()
    response = await answered.value
    assert response.status == 409
    message = (await response.json())["error"]["message"]
    assert "stopped container" in message, message
    await expect(row.get_by_role("alert")).to_have_text(message)
    await expect(row.get_by_role("button", name="Force remove")).to_be_visible()
    await expect(row).to_be_visible()  # nothing went

    # The prune preview, computed from the list: the untagged image goes, the used one stays.
    # (Cancelled: a prune on the shared engine would take other runs' images.)
    await page.get_by_label("Filter images").fill("")
    await expect(
        page.locator(f'tr[data-testid="image-row"][data-id="{dangling_image}"]')
    ).to_be_visible()
    await page.get_by_role("button", name="Prune dangling…").click()
    preview = page.get_by_test_id("prune-preview")
    await expect(preview).to_contain_text(dangling_image.removeprefix("sha256:")[:12])
    await expect(preview).not_to_contain_text(imported_image)
    await page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    await expect(preview).to_have_count(0)
    await page.get_by_role("button", name="Prune unused…").click()
    await expect(preview).to_contain_text(dangling_image.removeprefix("sha256:")[:12])
    await expect(preview).not_to_contain_text(imported_image)
    await page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    await assert_no_reload(page)


async def test_a_network_is_created_previewed_for_prune_and_removed_live(
    page: Page, ui_cluster: Cluster, made: list[list[str]]
) -> None:
    node = ui_cluster.node.node_id
    name = unique_name("ui-net")
    made.append(["network", "rm", name])
    await sign_in(page, "admin", ADMIN_PASSWORD, f"/networks?node={node}")
    await expect(page.get_by_role("table", name="Networks")).to_contain_text("bridge")
    await mark_no_reload(page)
    await page.get_by_label("network name").fill(name)
    await page.get_by_label("Labels").fill(f"{TEST_LABEL}=1")
    await page.get_by_label("internal").check()
    await page.get_by_role("button", name="Create network").click()
    row = page.locator(f'tr[data-testid="network-row"][data-name="{name}"]')
    await expect(row).to_contain_text("(internal)")
    await expect(row.get_by_text("unused")).to_be_visible()
    bridge = page.locator('tr[data-testid="network-row"][data-name="bridge"]')
    await expect(bridge.get_by_role("button", name="Remove")).to_have_count(0)

    await page.get_by_role("button", name="Prune…").click()
    preview = page.get_by_test_id("prune-preview")
    await expect(preview.get_by_text(name, exact=True)).to_be_visible()
    await expect(preview.get_by_text("bridge", exact=True)).to_have_count(0)
    await page.get_by_role("dialog").get_by_role("button", name="Cancel").click()

    await row.get_by_role("button", name="Remove").click()
    await page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    await expect(row).to_have_count(0)
    await assert_no_reload(page)


async def test_a_volume_is_created_shown_in_use_and_removed_live(
    page: Page, ui_cluster: Cluster, busybox_image: str, made: list[list[str]]
) -> None:
    node = ui_cluster.node.node_id
    name = unique_name("ui-vol")
    made.append(["volume", "rm", "-f", name])
    await sign_in(page, "admin", ADMIN_PASSWORD, f"/volumes?node={node}")
    await expect(page.get_by_role("table", name="Volumes")).to_be_visible()
    await mark_no_reload(page)

    await page.get_by_label("volume name").fill(name)
    await page.get_by_label("Labels").fill(f"{TEST_LABEL}=1")
    await page.get_by_role("button", name="Create volume").click()
    row = page.locator(f'tr[data-testid="volume-row"][data-name="{name}"]')
    await expect(row).to_be_visible()
    await expect(row.get_by_text(f"{TEST_LABEL}=1")).to_be_visible()
    await expect(row.get_by_text("unused")).to_be_visible()

    user = unique_name("ui-user")
    made.append(["rm", "-f", user])
    await asyncio.to_thread(
        docker, "create", "--name", user, "--label", f"{TEST_LABEL}=1", "-v", f"{name}:/data",
        busybox_image,
    )  # fmt: skip
    await expect(row.get_by_role("link", name=user)).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / "volumes-desktop.png")
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await page.screenshot(path=SCREENSHOTS / "volumes-phone.png", full_page=True)
    await page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]

    await row.get_by_role("button", name="Remove").click()
    await page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    await expect(row.get_by_role("alert")).to_contain_text("in use")

    await asyncio.to_thread(docker, "rm", user)
    await expect(row.get_by_text("unused")).to_be_visible()
    await row.get_by_role("button", name="Remove").click()
    await page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    await expect(row).to_have_count(0)
    await assert_no_reload(page)


async def test_a_viewer_sees_the_lists_but_no_controls(page: Page, ui_cluster: Cluster) -> None:
    node = ui_cluster.node.node_id
    await sign_in(page, "vera", VIEWER_PASSWORD, f"/images?node={node}")
    await expect(page.get_by_role("table", name="Images").locator("tbody tr").first).to_be_visible()
    for name in ("Pull", "Remove", "Prune dangling…", "Prune unused…"):
        await expect(page.get_by_role("button", name=name)).to_have_count(0)
    await expect(page.get_by_label("Image reference")).to_have_count(0)
    tabs = page.get_by_role("navigation", name="Resources")
    for kind, table in (("volumes", "Volumes"), ("networks", "Networks")):
        await tabs.get_by_role("link", name=table).click()
        await expect(page.get_by_text(re.compile(rf"^\d+ {kind[:-1]}"))).to_be_visible()  # loaded
        await expect(page.get_by_role("button", name=f"Create {kind[:-1]}")).to_have_count(0)
        await expect(page.get_by_role("button", name="Prune…")).to_have_count(0)
        await expect(page.get_by_role("button", name="Remove")).to_have_count(0)

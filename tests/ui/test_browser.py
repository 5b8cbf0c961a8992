"""The browser UI end to end: Debian Chromium (Playwright) against real coordinator and node
processes over a real engine. Everything the page shows comes from the events socket; each
test checks that the page never reloaded.

The last test kills the coordinator (``kill -9``), so it stays last in the module.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, expect

from docklord.testing import NodeProcess, SimulatedNode, eventually, unique_name
from tests.e2e.conftest import Cluster, wait_online
from tests.ui.conftest import (
    PHONE,
    SCREENSHOTS,
    VIEWER_PASSWORD,
    assert_no_reload,
    docker,
    mark_no_reload,
    sign_in,
)

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "admin-test-password"
EXITED = "[data-state=exited]"


async def go(page: Page, path: str) -> None:
    """Navigate inside the page (as a link does), without loading it again."""
    await page.evaluate(
        f"history.pushState(null, '', {path!r}); dispatchEvent(new PopStateEvent('popstate'))"
    )


def row(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f'tr[data-testid="container-row"][data-name="{name}"]')


async def test_sign_in_shows_the_api_message_on_a_wrong_password(page: Page) -> None:
    await page.goto("/")
    await page.get_by_label("Username").fill("admin")
    await page.get_by_label("Password").fill("not-the-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("invalid username or password")
    await page.get_by_label("Password").fill(ADMIN_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_test_id("socket-state")).to_have_text("live")
    await expect(page.get_by_text("admin (admin)")).to_be_visible()
    await page.keyboard.press("?")
    await expect(page.get_by_role("dialog")).to_contain_text("Ctrl+K")
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("dialog")).to_have_count(0)
    await page.get_by_label("Theme").select_option("dark")
    await expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    await page.reload()  # the session cookie is gone: still signed out
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()


async def test_docs_renders_swagger_ui_with_nothing_from_elsewhere(
    page: Page, ui_cluster: Cluster
) -> None:
    elsewhere: list[str] = []
    origin = ui_cluster.coordinator.url
    page.on("request", lambda r: None if r.url.startswith(origin) else elsewhere.append(r.url))
    await page.goto("/docs")
    await expect(page.locator(".swagger-ui .title")).to_contain_text("Docklord")
    await expect(page.get_by_text("/api/v1/auth/login").first).to_be_visible()
    assert not elsewhere, f"requests to other origins: {elsewhere}"


async def test_a_container_started_with_the_cli_appears_live_and_moves_to_exited(
    page: Page, cli_container: Callable[..., str]
) -> None:
    await sign_in(page, "admin", ADMIN_PASSWORD, "/containers")
    await mark_no_reload(page)
    name = await asyncio.to_thread(cli_container)
    started = time.monotonic()
    await expect(row(page, name)).to_be_visible(timeout=1000)
    shown_after = time.monotonic() - started
    running = page.locator('tbody[data-group="Running"]')
    await expect(running.locator(f'tr[data-name="{name}"]')).to_be_visible()
    await asyncio.to_thread(docker, "stop", name)
    exited = page.locator('tbody[data-group="Exited"]')
    await expect(exited.locator(f'tr[data-name="{name}"][data-state="exited"]')).to_be_visible()
    # The fleet event timeline has both, newest first.
    await go(page, f"/events?q={name}")
    events = page.get_by_test_id("event").filter(has_text=name)
    await expect(events.and_(page.locator("[data-action=start]"))).to_have_count(1)
    await expect(events.and_(page.locator("[data-action=die]"))).to_have_count(1)
    await expect(events.first).to_have_attribute("data-action", re.compile("die|stop"))
    await assert_no_reload(page)
    print(f"container shown {shown_after * 1000:.0f} ms after `docker run` returned")


async def test_stop_from_the_ui_changes_the_list_and_the_container_page(
    page: Page, cli_container: Callable[..., str]
) -> None:
    await sign_in(page, "admin", ADMIN_PASSWORD, "/containers")
    name = await asyncio.to_thread(cli_container)
    await expect(row(page, name)).to_have_attribute("data-state", "running")
    await mark_no_reload(page)
    await row(page, name).get_by_role("link", name=name).click()
    container = page.get_by_test_id("container-page")
    await expect(container).to_have_attribute("data-state", "running")
    await expect(page.get_by_role("heading", name=name)).to_be_visible()
    await page.get_by_role("button", name="Stop", exact=True).click()
    await expect(container).to_have_attribute("data-state", "exited")
    await expect(page.get_by_role("button", name="Start", exact=True)).to_be_visible()
    await page.get_by_role("navigation").get_by_role("link", name="Containers").click()
    await expect(row(page, name)).to_have_attribute("data-state", "exited")
    await assert_no_reload(page)


async def test_search_filters_in_the_url_and_bulk_stop(
    page: Page, cli_container: Callable[..., str]
) -> None:
    first, second, other = [await asyncio.to_thread(cli_container) for _ in range(3)]
    await sign_in(page, "admin", ADMIN_PASSWORD, "/containers")
    await expect(row(page, other)).to_be_visible()
    await page.keyboard.press("/")
    search = page.get_by_role("searchbox")
    await expect(search).to_be_focused()
    await search.fill(first)
    await expect(row(page, first)).to_be_visible()
    await expect(row(page, other)).to_have_count(0)
    assert f"q={first}" in page.url
    await page.reload()  # the filter lives in the URL
    await expect(page.get_by_role("searchbox")).to_have_value(first)
    await expect(row(page, second)).to_have_count(0)
    await page.get_by_role("searchbox").fill("")
    for name in (first, second):
        await row(page, name).get_by_role("checkbox").check()
    await (
        page.get_by_role("toolbar", name="Selected containers")
        .get_by_role("button", name="Stop")
        .click()
    )
    for name in (first, second):
        await expect(row(page, name)).to_have_attribute("data-state", "exited")
    await expect(row(page, other)).to_have_attribute("data-state", "running")


async def test_kill_and_remove_ask_first(page: Page, cli_container: Callable[..., str]) -> None:
    name = await asyncio.to_thread(cli_container)
    await sign_in(page, "admin", ADMIN_PASSWORD, "/containers")
    await row(page, name).get_by_role("link", name=name).click()
    await page.get_by_role("button", name="Kill").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text(f"Kill container {name}")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(page.get_by_test_id("container-page")).to_have_attribute("data-state", "running")
    await page.get_by_role("button", name="Remove").click()
    await page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    await expect(page.get_by_test_id("container-missing")).to_be_visible()


async def test_a_viewer_sees_no_stop_button_and_the_api_refuses_a_stop(
    page: Page, context: BrowserContext, cli_container: Callable[..., str], ui_cluster: Cluster
) -> None:
    name = await asyncio.to_thread(cli_container)
    await sign_in(page, "vera", VIEWER_PASSWORD, "/containers")
    await expect(row(page, name)).to_be_visible()
    await expect(row(page, name).get_by_role("checkbox")).to_have_count(0)
    await row(page, name).get_by_role("link", name=name).click()
    await expect(page.get_by_test_id("container-page")).to_have_attribute("data-state", "running")
    await expect(page.get_by_role("heading", name=name)).to_be_visible()
    await expect(page.get_by_role("button", name="Stop", exact=True)).to_have_count(0)
    await expect(page.get_by_role("toolbar", name="Actions")).to_have_count(0)
    # The same browser session asks anyway: the API refuses it.
    node = ui_cluster.node.node_id
    refused = await context.request.post(f"/api/v1/nodes/{node}/containers/{name}/stop")
    assert refused.status == 403
    assert (await refused.json())["error"]["message"] == "this needs the operator role"
    await expect(page.get_by_test_id("container-page")).to_have_attribute("data-state", "running")


async def test_screenshots_of_the_fleet_and_container_views(
    page: Page, cli_container: Callable[..., str], ui_cluster: Cluster
) -> None:
    """Made by the test run, for the README and docs/ (desktop 1280 px and phone 375 px)."""
    names = [await asyncio.to_thread(cli_container) for _ in range(3)]
    await asyncio.to_thread(docker, "stop", names[2])
    await sign_in(page, "admin", ADMIN_PASSWORD, "/nodes")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    node = ui_cluster.node.node_id
    views = {
        "fleet": ("/nodes", page.locator(f'[data-testid="node"][data-node="{node}"]')),
        "containers": ("/containers", row(page, names[2]).and_(page.locator(EXITED))),
        "container": (f"/containers/{node}/{names[0]}", page.get_by_test_id("container-page")),
    }
    for size, viewport in (("desktop", {"width": 1280, "height": 800}), ("phone", PHONE)):
        await page.set_viewport_size(viewport)  # type: ignore[arg-type]
        for view, (path, ready) in views.items():
            await go(page, path)
            await expect(ready).to_be_visible()
            shot = SCREENSHOTS / f"{view}-{size}.png"
            await page.screenshot(path=shot, full_page=size == "phone")


async def test_a_long_list_draws_only_the_rows_near_the_screen(
    page: Page, ui_cluster: Cluster, ui_api: httpx.AsyncClient
) -> None:
    made = await ui_api.post("/api/v1/nodes", json={"mode": "secret"})
    assert made.status_code == 201, made.text
    node, password = made.json()["node_id"], made.json()["password"]
    simulated = SimulatedNode(ui_cluster.coordinator.ws_url, node, password, containers=400)
    linked = asyncio.create_task(simulated.run())
    try:
        await asyncio.wait_for(simulated.linked.wait(), 20)
        await sign_in(page, "admin", ADMIN_PASSWORD, f"/containers?node={node}")
        await expect(page.get_by_text("400 containers")).to_be_visible()
        rows = page.get_by_test_id("container-row")
        await expect(rows.first).to_have_attribute("data-name", f"{node}-c0")
        assert 20 < await rows.count() < 150  # a screenful and some, not 400
        last = row(page, f"{node}-c399")
        await expect(last).to_have_count(0)
        await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        await expect(last).to_be_visible()
        # A drawn row follows its container live (it moves to the group Other, at the end).
        simulated.emit(399)
        await expect(last).to_have_attribute("data-state", "paused")
    finally:
        linked.cancel()
        await asyncio.gather(linked, return_exceptions=True)
        await ui_api.delete(f"/api/v1/nodes/{node}")


async def test_the_stats_charts_show_data_points(
    page: Page, cli_container: Callable[..., str], ui_cluster: Cluster
) -> None:
    name = await asyncio.to_thread(cli_container)
    await sign_in(page, "admin", ADMIN_PASSWORD, f"/containers/{ui_cluster.node.node_id}/{name}")
    charts = page.get_by_test_id("charts")
    await expect(charts).to_have_attribute("data-status", "live")
    await expect(charts).to_have_attribute("data-points", re.compile(r"^([2-9]|\d\d+)$"))
    # uPlot drew the line: each chart has a canvas, with a legend value for its series.
    await expect(charts.locator("canvas")).to_have_count(4)
    await expect(charts.get_by_role("figure", name="CPU %")).to_be_visible()


#: 200,000 numbered lines, then a new line ``tick N`` every half second until SIGTERM.
CHATTY = (
    "sh",
    "-c",
    "trap 'exit 0' TERM; seq 1 200000; i=0;"
    " while true; do i=$((i+1)); echo tick $i; sleep 0.5 & wait; done",
)


async def test_the_log_view_follows_a_long_log_and_finds_a_line(
    page: Page, cli_container: Callable[..., str], ui_cluster: Cluster
) -> None:
    name = await asyncio.to_thread(cli_container, *CHATTY)
    node = ui_cluster.node.node_id
    await sign_in(page, "admin", ADMIN_PASSWORD, f"/logs?node={node}&container={name}")
    lines = page.get_by_test_id("log-line")
    backlog = lines.filter(has_text=re.compile(r"^tick \d+$")).last
    await expect(backlog).to_be_visible(timeout=30_000)
    # Followed to the end: the last line on screen is the newest tick, and newer ones come.
    last = await lines.filter(has_text=re.compile(r"^tick \d+$")).last.inner_text()
    newer = f"tick {int(last.split()[1]) + 1}"
    await expect(lines.filter(has_text=re.compile(f"^{newer}$"))).to_be_visible()
    view = page.get_by_test_id("log-view")
    at_end = "e => e.scrollTop + e.clientHeight >= e.scrollHeight - 20"
    assert await view.evaluate(at_end)
    status = await page.get_by_test_id("logs-status").inner_text()
    assert int(status.split("·")[1].split()[0]) >= 200_000, status
    await page.get_by_role("searchbox").fill("^12345[67]$")
    await expect(page.get_by_test_id("match-count")).to_have_text("1 / 2 matches")
    await page.get_by_role("button", name="Next").click()
    await expect(page.get_by_test_id("match-count")).to_have_text("2 / 2 matches")
    await expect(lines.locator("mark", has_text="123457")).to_be_visible()
    await expect(page.get_by_role("button", name="Jump to live")).to_be_visible()
    await page.screenshot(path=SCREENSHOTS / "logs-desktop.png")
    await page.get_by_role("button", name="Jump to live").click()
    await expect(lines.filter(has_text=re.compile(r"^tick \d+$")).last).to_be_visible()


#: Prints ``<run> <n>`` every 0.2 s, where ``<run>`` is new at every start: a repeated line
#: would show as the same text twice.
NUMBERED = (
    "sh",
    "-c",
    "trap 'exit 0' TERM; r=$RANDOM$RANDOM; n=0;"
    ' while true; do n=$((n+1)); echo "$r $n"; sleep 0.2 & wait; done',
)


async def ui_count(page: Page) -> int:
    status = await page.get_by_test_id("logs-status").inner_text()
    return int(status.split("·")[1].split()[0])


@pytest.mark.relinks
async def test_the_log_view_carries_on_across_a_restart_and_a_node_restart(
    page: Page, cli_container: Callable[..., str], ui_cluster: Cluster, ui_api: httpx.AsyncClient
) -> None:
    name = await asyncio.to_thread(cli_container, *NUMBERED)
    node = ui_cluster.node.node_id
    await sign_in(page, "admin", ADMIN_PASSWORD, f"/logs?node={node}&container={name}")
    status = page.get_by_test_id("logs-status")
    await expect(status).to_contain_text("following")
    lines = page.get_by_test_id("log-line")
    await expect(lines.filter(has_text=re.compile(r" 5$")).first).to_be_visible()
    first_run = (await lines.first.inner_text()).split()[0]
    # The engine's follow ends at the stop; the view's carries on into the next run.
    await asyncio.to_thread(docker, "restart", "-t", "1", name)
    second = lines.filter(has_text=re.compile(r"^\d+ 3$")).filter(has_not_text=first_run)
    await expect(second).to_be_visible()
    # The node goes away under the open view: it reconnects from the last line it holds.
    await asyncio.to_thread(ui_cluster.node.stop)
    await expect(status).to_contain_text("reconnecting")
    ui_cluster.node.start()
    await wait_online(ui_api, node)
    await expect(status).to_contain_text("following", timeout=30_000)
    held = await ui_count(page)
    await expect(status).not_to_contain_text(f"· {held} lines")  # new lines come again
    await asyncio.to_thread(docker, "stop", "-t", "5", name)
    logged = (await asyncio.to_thread(docker, "logs", name)).splitlines()
    assert len(set(logged)) == len(logged), "the container printed a line twice"
    # Every line the engine kept, each once, in order: the newest ones are on screen.
    await expect(status).to_contain_text(f"· {len(logged)} lines")
    await expect(lines.last).to_have_text(logged[-1])


async def test_the_log_view_draws_ansi_colours_opens_json_and_downloads(
    page: Page, cli_container: Callable[..., str], ui_cluster: Cluster
) -> None:
    script = (
        "printf '\\033[1;31mred alert\\033[0m plain\\n';"
        ' echo \'{"level":"info","msg":"hello"}\'; echo other; sleep 600 & wait'
    )
    name = await asyncio.to_thread(cli_container, "sh", "-c", f"trap 'exit 0' TERM; {script}")
    node = ui_cluster.node.node_id
    await sign_in(page, "admin", ADMIN_PASSWORD, f"/logs?node={node}&container={name}")
    lines = page.get_by_test_id("log-line")
    red = lines.filter(has_text="red alert")
    await expect(red).to_have_text("red alert plain")  # no escape sequence left in the text
    await expect(red.locator("span.ansi-fg-1.ansi-bold")).to_have_text("red alert")
    await lines.filter(has_text='"level"').click()
    detail = page.get_by_test_id("log-detail")
    await expect(detail).to_have_text('{\n  "level": "info",\n  "msg": "hello"\n}')
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await page.screenshot(path=SCREENSHOTS / "logs-phone.png", full_page=True)
    # The search marks inside a coloured span, and the download applies it on the server.
    await page.get_by_role("searchbox").fill("al+ert|other")
    await expect(page.get_by_test_id("match-count")).to_have_text("1 / 2 matches")
    await expect(red.locator("mark")).to_have_text("alert")
    async with page.expect_download() as info:
        await page.get_by_role("link", name="Download").click()
    download = await info.value
    cid = await asyncio.to_thread(docker, "inspect", "-f", "{{.Id}}", name)
    assert download.suggested_filename == f"{cid}.log"  # the server's name for it
    text = (await download.path()).read_text()
    assert text.splitlines() == ["\x1b[1;31mred alert\x1b[0m plain", "other"], text


async def test_an_event_links_to_the_logs_around_its_time(
    page: Page, cli_container: Callable[..., str], ui_cluster: Cluster
) -> None:
    name = unique_name("ui")
    await sign_in(page, "admin", ADMIN_PASSWORD, f"/events?q={name}")  # events from now on
    await asyncio.to_thread(cli_container, *NUMBERED, name=name)
    first_run = await eventually_output(name, " 5")
    await asyncio.to_thread(docker, "restart", "-t", "1", name)
    starts = page.get_by_test_id("event").and_(page.locator("[data-action=start]"))
    await expect(starts).to_have_count(2)
    await starts.first.get_by_role("link", name="around").click()  # the restart's start
    assert all(f"{p}=" in page.url for p in ("since", "until", "at")), page.url
    # The first line at or after the event's time is marked and in view; the window holds the
    # first run too (the engine may stamp the new run's first line just before its start).
    marked = page.locator("[data-at=true]")
    await expect(marked).to_be_visible()
    at = stamp_key(parse_qs(urlsplit(page.url).query)["at"][0])
    await page.get_by_label("Timestamps").check()
    rows = await page.get_by_test_id("log-line").all_inner_texts()
    here = rows.index(await marked.inner_text())
    assert here > 0, rows
    stamp, run, number = rows[here].split()
    assert stamp_key(stamp) >= at > stamp_key(rows[here - 1].split()[0]), (at, rows)
    assert run != first_run and number in ("1", "2"), rows[here]
    await expect(page.get_by_test_id("logs-status")).to_contain_text("following")
    await page.get_by_role("searchbox").fill(f"^{first_run} 1$")
    await expect(page.get_by_test_id("match-count")).to_have_text("1 / 1 matches")
    await go(page, f"/events?q={name}")
    await expect(starts).to_have_count(2)
    await page.screenshot(path=SCREENSHOTS / "events-desktop.png")
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await page.screenshot(path=SCREENSHOTS / "events-phone.png", full_page=True)


def stamp_key(time: str) -> str:
    """An RFC 3339 time that sorts as text (the fraction padded to nanoseconds)."""
    head, _, rest = time.partition(".")
    if not rest:
        return time.removesuffix("Z") + ".000000000Z"
    fraction = rest.rstrip("Z")
    return f"{head}.{fraction.ljust(9, '0')}Z"


async def eventually_output(name: str, ending: str) -> str:
    """The run id of ``NUMBERED``'s output once a line ends with ``ending``."""

    async def printed() -> str | None:
        out = await asyncio.to_thread(docker, "logs", name)
        return next((ln.split()[0] for ln in out.splitlines() if ln.endswith(ending)), None)

    return await eventually(printed, timeout=20, what=f"{name} to print ...{ending}")


async def test_merged_logs_of_two_containers_on_two_nodes_interleave_by_time(
    page: Page,
    cli_container: Callable[..., str],
    ui_cluster: Cluster,
    ui_api: httpx.AsyncClient,
    tmp_path: Path,
    docker_host: str,
) -> None:
    other = NodeProcess(
        [ui_cluster.coordinator.ws_url],
        unique_name("node"),
        secrets.token_urlsafe(16),
        docker_host=docker_host,
        workdir=tmp_path / "other-node",
    )
    (tmp_path / "other-node").mkdir()
    other.start()
    try:
        await wait_online(ui_api, other.node_id)
        script = (
            "trap 'exit 0' TERM; for i in 1 2 3 4 5; do echo {0}$i; sleep 0.3; done;"
            " sleep 600 & wait"
        )
        a = await asyncio.to_thread(cli_container, "sh", "-c", script.format("a"))
        b = await asyncio.to_thread(cli_container, "sh", "-c", script.format("b"))
        sources = [f"{ui_cluster.node.node_id}/{a}", f"{other.node_id}/{b}"]
        await sign_in(page, "admin", ADMIN_PASSWORD, "/containers")
        # The Containers page's selection leads there.
        await row(page, a).first.get_by_role("checkbox").check()
        link = page.get_by_role("link", name="Merged logs")
        await expect(link).to_have_attribute("href", re.compile(r"^/logs/merged\?container="))
        await go(page, "/logs/merged?" + "&".join(f"container={s}" for s in sources))
        lines = page.get_by_test_id("log-line")
        await expect(lines).to_have_count(10)
        texts = [t.split()[-1] for t in await lines.all_inner_texts()]
        tags = [await line.get_attribute("data-container") for line in await lines.all()]
        assert [t for t in texts if t[0] == "a"] == [f"a{i}" for i in range(1, 6)], texts
        assert [t for t in texts if t[0] == "b"] == [f"b{i}" for i in range(1, 6)], texts
        assert tags == [sources[0] if t[0] == "a" else sources[1] for t in texts]
        # By time, not one container after the other: the two outputs overlap.
        switches = sum(1 for x, y in zip(texts, texts[1:], strict=False) if x[0] != y[0])
        assert switches >= 3, texts
        # Each container keeps its own colour.
        tagged = await page.locator(".log-source").all()
        colours = {await tag.evaluate("e => getComputedStyle(e).color") for tag in tagged}
        assert len(colours) == 2, colours
        await page.screenshot(path=SCREENSHOTS / "merged-logs-desktop.png")
        await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
        await page.screenshot(path=SCREENSHOTS / "merged-logs-phone.png", full_page=True)
    finally:
        other.stop()
        await ui_api.delete(f"/api/v1/nodes/{other.node_id}")


async def test_the_terminal_runs_a_command_and_follows_a_resize(
    page: Page, cli_container: Callable[..., str], ui_cluster: Cluster
) -> None:
    name = await asyncio.to_thread(cli_container)
    await sign_in(page, "admin", ADMIN_PASSWORD, f"/containers/{ui_cluster.node.node_id}/{name}")
    await page.get_by_role("button", name="Open terminal").click()
    terminal = page.get_by_test_id("terminal")
    await expect(terminal).to_have_attribute("data-status", "connected")
    await terminal.click()
    await page.keyboard.type("echo h''i\n")  # the echoed input is not a line that is just "hi"
    await expect(terminal_line(page, "hi")).to_have_count(1)
    await page.screenshot(path=SCREENSHOTS / "terminal-desktop.png")
    cols = await terminal.get_attribute("data-cols")
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await expect(terminal).not_to_have_attribute("data-cols", cols or "")
    rows = await terminal.get_attribute("data-rows")
    cols = await terminal.get_attribute("data-cols")
    await page.keyboard.type("stty size\n")
    await expect(terminal_line(page, f"{rows} {cols}")).to_have_count(1)
    await page.screenshot(path=SCREENSHOTS / "terminal-phone.png", full_page=True)
    await page.keyboard.type("exit 3\n")
    await expect(terminal).to_have_attribute("data-status", "exited with code 3")


def terminal_line(page: Page, text: str):  # type: ignore[no-untyped-def]
    """A row of the terminal that holds exactly ``text``."""
    pattern = re.compile(rf"^\s*{re.escape(text)}\s*$")
    return page.locator(".xterm-rows > div").filter(has_text=pattern)


@pytest.mark.relinks
async def test_the_page_reconnects_after_the_coordinator_is_killed(
    page: Page, cli_container: Callable[..., str], ui_cluster: Cluster, ui_api: httpx.AsyncClient
) -> None:
    await sign_in(page, "admin", ADMIN_PASSWORD, "/containers")
    before = await asyncio.to_thread(cli_container)
    await expect(row(page, before)).to_be_visible()
    await mark_no_reload(page)
    await asyncio.to_thread(ui_cluster.coordinator.kill)
    await expect(page.get_by_test_id("socket-state")).to_have_text("reconnecting")
    meanwhile = await asyncio.to_thread(cli_container)
    await asyncio.to_thread(docker, "stop", before)
    ui_cluster.coordinator.start()
    await asyncio.to_thread(ui_cluster.coordinator.wait_ready)
    await expect(page.get_by_test_id("socket-state")).to_have_text("live")
    await expect(row(page, meanwhile)).to_have_attribute("data-state", "running")
    await expect(row(page, before)).to_have_attribute("data-state", "exited")
    await assert_no_reload(page)

"""Browser benchmarks (DESIGN.md §8): the fleet list and the log viewer in Debian's Chromium.

    DOCKER_HOST=$(./scripts/engine) .venv/bin/python -m bench.ui [--nodes 50] [--containers 100]
        [--logs-only] [--no-engine]

1. **Fleet list.** ``--nodes`` simulated nodes (``docklord.testing.SimulatedNode``) with
   ``--containers`` containers each link to a coordinator process. The page ``/containers`` is
   loaded (grouped by node); *first render* is the time from the navigation's start until the
   list says it holds every container and its first rows are drawn (``performance.now()`` in
   the page; a list this long draws only the rows near the screen). Then the nodes emit
   ``--rate`` events per second (a container pauses or resumes) for ``--seconds``, every other
   one on a container whose row is drawn; a ``MutationObserver`` in the page notes when each
   such row shows the new state, and the latency is that moment minus the moment the simulated
   node emitted the event (one machine, one clock).
2. **Log viewer, end to end.** A real node on the engine under test; a container prints
   bursts of 5,000 lines (aiming at ``--log-rate`` lines per second or more) until the page
   holds ``--e2e-lines`` lines, through the node, the link, the coordinator and the page's
   socket. The rate reached is reported, with the frame times of a ``requestAnimationFrame``
   loop in the page meanwhile.
3. **Log viewer at ``--log-rate``.** The same page (of a simulated node's container: no engine
   needed), its logs socket replaced in the page by a feeder that hands it ``{"lines": [...]}``
   frames (the relay's format, engine timestamps) at exactly ``--log-rate`` lines per second,
   every 10 ms, through the socket's ``onmessage``: ``--fed-lines`` lines, more than the page
   holds (``--lines``, so the oldest are dropped meanwhile), with a search (``9999$``) held all
   along. That is the page's own cost of appending at that rate, the feeder's (building the
   frames) counted in. Frame times p50/p95/p99 and frames over 50 ms. Then a regex search over
   all the lines held: from the input event until the match count is drawn.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
import time
from pathlib import Path

from playwright.async_api import Page, async_playwright

from bench._common import docker_host, fleet, machine, pct, preregister, table
from docklord.logs import configure
from docklord.testing import CoordinatorProcess, NodeProcess, SimulatedNode

CHROMIUM = "/usr/bin/chromium"
#: The searches timed over the log viewer's lines.
QUERIES = ("^12345[67]$", "9999$")
PASSWORD = "bench-ui-password"  # noqa: S105 - a throw-away coordinator's

# Notes (row name, state, Date.now()) each time a row shows a state, new or moved.
OBSERVE_ROWS = """() => {
  window.__seen = [];
  window.__long = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__long.push(e.duration);
  }).observe({ type: "longtask" });
  const note = (el) => {
    if (el instanceof HTMLElement && el.dataset.testid === "container-row")
      window.__seen.push([el.dataset.name, el.dataset.state, Date.now()]);
  };
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === "attributes") note(r.target);
      for (const n of r.addedNodes) {
        note(n);
        if (n instanceof HTMLElement) n.querySelectorAll("tr").forEach(note);
      }
    }
  }).observe(document.body, { subtree: true, childList: true, attributes: true,
                              attributeFilter: ["data-state"] });
}"""

FRAMES = """() => {
  window.__frames = [];
  let last = performance.now();
  const tick = (now) => {
    window.__frames.push(now - last); last = now; requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""

LONG_TASKS = """() => {
  window.__long = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__long.push(e.duration);
  }).observe({ type: "longtask" });
}"""

# Replaces the page's logs socket (only that one) by a feeder: once `window.__feedGo` is set,
# every 10 ms it hands the socket's onmessage one frame of the lines due by then at RATE a
# second (the relay's format, an engine timestamp on each), until TOTAL lines were given.
FEEDER = """(() => {
  const Real = window.WebSocket;
  const frame = (from, to) => {
    const stamp = new Date().toISOString().slice(0, 23);
    const parts = [];
    for (let i = from; i < to; i++) {
      const nanos = String(i % 1000000).padStart(6, "0");
      parts.push(`{"stream":"stdout","line":"${stamp}${nanos}Z ${i}"}`);
    }
    return `{"lines":[${parts.join(",")}]}`;
  };
  class Feed {
    constructor() { this.readyState = 0; setTimeout(() => this.open(), 0); }
    open() {
      this.readyState = 1;
      this.onopen?.({});
      let sent = 0, began = 0;
      const tick = () => {
        if (this.readyState !== 1) return;
        if (!window.__feedGo) return void setTimeout(tick, 10);
        if (!began) began = performance.now();
        const due = Math.min(TOTAL, Math.floor(((performance.now() - began) * RATE) / 1000));
        if (due > sent) { this.onmessage?.({ data: frame(sent, due) }); sent = due; }
        if (sent < TOTAL) setTimeout(tick, 10);
        else window.__feedDone = performance.now() - began;
      };
      tick();
    }
    send() {}
    close() { this.readyState = 3; }
  }
  window.WebSocket = function (url, protocols) {
    return String(url).includes("/logs/ws") ? new Feed() : new Real(url, protocols);
  };
  window.WebSocket.prototype = Real.prototype;
  Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
})();"""

# Types `query` into the search box and resolves with the ms until the match count changed.
SEARCH = """(query) => new Promise((resolve) => {
  const box = document.querySelector('input[type=search]');
  const count = document.querySelector('[data-testid=match-count]');
  const started = performance.now();
  new MutationObserver((_, observer) => {
    if (count.textContent.includes("matches")) { observer.disconnect();
      resolve([performance.now() - started, count.textContent]); }
  }).observe(count, { childList: true, characterData: true, subtree: true });
  box.value = query;
  box.dispatchEvent(new Event("input", { bubbles: true }));
})"""


async def sign_in(page: Page, password: str, path: str) -> None:
    await page.goto("/")
    await page.get_by_label("Username").fill("admin")
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_test_id("socket-state").filter(has_text="live").wait_for()
    await page.goto(path)


async def fleet_list(args: argparse.Namespace, work: Path) -> list[tuple[str, str, str]]:
    coordinator = CoordinatorProcess(
        work / "fleet", extra_args=["--log-level=warning"], admin_password=PASSWORD
    )
    (coordinator.workdir / "data").mkdir(parents=True)
    store_url = f"sqlite+aiosqlite:///{coordinator.workdir / 'data' / 'docklord.db'}"
    credentials = await preregister(store_url, "sim", args.nodes)
    coordinator.start()
    tasks: list[asyncio.Task[None]] = []
    try:
        await asyncio.to_thread(coordinator.wait_ready)
        nodes = [
            SimulatedNode(coordinator.ws_url, node_id, secret, containers=args.containers)
            for node_id, secret in credentials.items()
        ]
        tasks = [asyncio.create_task(node.run()) for node in nodes]
        await asyncio.gather(*(node.linked.wait() for node in nodes))
        total = args.nodes * args.containers
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = await browser.new_page(base_url=coordinator.url)
            await sign_in(page, PASSWORD, "/nodes")
            # Grouped by node, a row stays where it is when its container pauses.
            await page.goto("/containers?group=node")
            await page.wait_for_function(
                "(n) => document.body.innerText.includes(n + ' containers')"
                " && document.querySelector('tr[data-testid=container-row]')",
                arg=str(total),
                timeout=60_000,
                polling=20,
            )
            first_render = await page.evaluate("performance.now()")
            shown = await page.evaluate(
                "[...document.querySelectorAll('tr[data-testid=container-row]')]"
                ".map(e => e.dataset.name)"
            )
            on_screen = [_where(nodes, name) for name in shown]
            await page.evaluate(OBSERVE_ROWS)
            emitted: list[tuple[str, str, float]] = []
            count = int(args.rate * args.seconds)
            begin = time.monotonic()
            for i in range(count):
                # Every other event changes a row the page draws (measured), the others any of
                # the 5,000 (load: the store applies them all).
                if i % 2:
                    n, index = on_screen[i // 2 % len(on_screen)]
                    summary = nodes[n].emit(index)
                    emitted.append((summary.name, summary.state, time.time() * 1000))
                else:
                    nodes[i % len(nodes)].emit()
                delay = begin + (i + 1) / args.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await asyncio.sleep(2)
            seen = await page.evaluate("window.__seen")
            long_tasks = await page.evaluate("window.__long")
            await browser.close()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(coordinator.stop)
    latencies = _latencies(emitted, seen)
    return [
        (
            f"fleet list: first render, {total:,} containers on {args.nodes} nodes",
            f"{first_render:.0f} ms",
            "<= 1000 ms",
        ),  # fmt: skip
        (
            f"fleet list: events at {args.rate:.0f}/s, those on rows drawn shown",
            f"{len(latencies)}/{len(emitted)}",
            "all",
        ),  # fmt: skip
        ("fleet list: event -> DOM p50", f"{pct(latencies, 0.5):.1f} ms", ""),
        ("fleet list: event -> DOM p99", f"{pct(latencies, 0.99):.1f} ms", "<= 100 ms"),
        (
            "fleet list: main-thread tasks over 50 ms while the events came",
            f"{len(long_tasks)}, median {pct(long_tasks or [0.0], 0.5):.0f} ms",
            "",
        ),  # fmt: skip
    ]


def _where(nodes: list[SimulatedNode], name: str) -> tuple[int, int]:
    """(node index, container index) of the container called ``name``."""
    for n, node in enumerate(nodes):
        for i, summary in enumerate(node.containers):
            if summary.name == name:
                return n, i
    raise LookupError(name)


def _latencies(
    emitted: list[tuple[str, str, float]], seen: list[tuple[str, str, float]]
) -> list[float]:
    """For each emitted change, the first time after it that the page showed that state."""
    by_row: dict[str, list[tuple[str, float]]] = {}
    for name, state, at in seen:
        by_row.setdefault(name, []).append((state, at))
    out: list[float] = []
    for name, state, at in emitted:
        shown = next((t for s, t in by_row.get(name, []) if s == state and t >= at - 1), None)
        if shown is not None:
            out.append(max(0.0, shown - at))
    return out


async def docker(*args: str) -> None:
    await asyncio.to_thread(subprocess.run, ["docker", *args], check=True, capture_output=True)


async def log_viewer(
    args: argparse.Namespace, coordinator: CoordinatorProcess, node: NodeProcess
) -> list[tuple[str, str, str]]:
    burst = 5000
    # Half the nominal pause: seq itself takes time, and the rate reported is the one measured.
    pause = burst / args.log_rate / 2
    script = f"i=0; while true; do seq $i $((i+{burst - 1})); i=$((i+{burst})); sleep {pause}; done"
    name = f"bench-ui-{int(time.time())}"
    await docker("create", "--name", name, "--label", "docklord.test=1",
                 "docklord-test/busybox", "sh", "-c", script)  # fmt: skip
    path = f"/logs?node={node.node_id}&container={name}"
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = await browser.new_page(base_url=coordinator.url)
            await sign_in(page, coordinator.admin_password, path)
            await page.get_by_test_id("logs-status").filter(has_text="following").wait_for()
            await page.evaluate(FRAMES)
            started = time.monotonic()
            await docker("start", name)
            await _wait_lines(page, args.e2e_lines, args.e2e_lines / args.log_rate * 4 + 30)
            took = time.monotonic() - started
            e2e_frames = await page.evaluate("window.__frames.splice(0)")
            await docker("stop", "-t", "1", name)
            await browser.close()
    finally:
        await asyncio.to_thread(subprocess.run, ["docker", "rm", "-f", name], capture_output=True)
    return [
        (
            f"log viewer, end to end: {args.e2e_lines:,} lines taken",
            f"in {took:.1f} s ({args.e2e_lines / took:,.0f} lines/s)",
            f">= {args.log_rate:,} lines/s",
        ),  # fmt: skip
        ("log viewer, end to end: frame time p50 / p95 / p99", _frames(e2e_frames), ""),
    ]


async def log_viewer_fed(args: argparse.Namespace, work: Path) -> list[tuple[str, str, str]]:
    """The log page of a simulated node's container, its logs socket fed in the page."""
    coordinator = CoordinatorProcess(
        work / "fed", extra_args=["--log-level=warning"], admin_password=PASSWORD
    )
    (coordinator.workdir / "data").mkdir(parents=True)
    store_url = f"sqlite+aiosqlite:///{coordinator.workdir / 'data' / 'docklord.db'}"
    ((node_id, secret),) = (await preregister(store_url, "fed", 1)).items()
    coordinator.start()
    task: asyncio.Task[None] | None = None
    try:
        await asyncio.to_thread(coordinator.wait_ready)
        node = SimulatedNode(coordinator.ws_url, node_id, secret, containers=1)
        task = asyncio.create_task(node.run())
        await node.linked.wait()
        # A search held while the lines come: its matches are kept up to date as they come.
        path = f"/logs?node={node_id}&container={node.containers[0].id}&q=9999%24"
        feeder = FEEDER.replace("RATE", str(args.log_rate)).replace("TOTAL", str(args.fed_lines))
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = await browser.new_page(base_url=coordinator.url)
            await page.add_init_script(feeder)
            await sign_in(page, PASSWORD, path)
            await page.get_by_test_id("logs-status").filter(has_text="following").wait_for()
            await page.evaluate(FRAMES)
            await page.evaluate(LONG_TASKS)
            await page.evaluate("window.__feedGo = true")
            await page.wait_for_function(
                "() => window.__feedDone !== undefined",
                timeout=(args.fed_lines / args.log_rate * 4 + 30) * 1000,
                polling=100,
            )
            fed_in = await page.evaluate("window.__feedDone")
            frames = await page.evaluate("window.__frames.splice(0)")
            await _wait_lines(page, min(args.fed_lines, args.lines), 30)
            held = await page.evaluate(HELD)
            long_tasks = await page.evaluate("window.__long")
            searches = [await page.evaluate(SEARCH, q) for q in QUERIES]
            await browser.close()
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await asyncio.to_thread(coordinator.stop)
    return [
        (
            f"log viewer fed at {args.log_rate:,} lines/s in the page: {args.fed_lines:,} lines,"
            " a search held",
            f"in {fed_in / 1000:.1f} s ({args.fed_lines / fed_in * 1000:,.0f} lines/s),"
            f" {held:,} held",
            f"{args.log_rate:,} lines/s",
        ),  # fmt: skip
        ("log viewer fed: frame time p50 / p95 / p99", _frames(frames), "p95 <= 50 ms"),
        (
            "log viewer fed: frames over 50 ms; main-thread tasks over 50 ms",
            f"{sum(1 for f in frames if f > 50)} of {len(frames)};"
            f" {len(long_tasks)} (longest {max(long_tasks, default=0):.0f} ms)",
            "",
        ),  # fmt: skip
        *(
            (f"log viewer: search {q!r} over all lines", f"{ms:.0f} ms ({text})", "<= 500 ms")
            for q, (ms, text) in zip(QUERIES, searches, strict=True)
        ),
    ]


HELD = """() => Number(document.querySelector('[data-testid=logs-status]')
  .textContent.split('·')[1].trim().split(' ')[0])"""


async def _wait_lines(page: Page, lines: int, timeout_s: float) -> None:
    """Until the page says it holds ``lines`` lines."""
    await page.wait_for_function(
        "(n) => { const s = document.querySelector('[data-testid=logs-status]');"
        " return s && Number(s.textContent.split('·')[1].trim().split(' ')[0]) >= n; }",
        arg=lines,
        timeout=timeout_s * 1000,
        polling=100,
    )


def _frames(frames: list[float]) -> str:
    return " / ".join(f"{pct(frames, q):.1f}" for q in (0.5, 0.95, 0.99)) + " ms"


def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="docklord-bench-ui-"))
    rows = [] if args.logs_only else asyncio.run(fleet_list(args, work))
    rows += asyncio.run(log_viewer_fed(args, work))
    if not args.no_engine:
        with fleet("ws") as (coordinator, node, _token):
            rows += asyncio.run(log_viewer(args, coordinator, node))
    print(table(rows, ("measure", "result", "target")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--e2e-lines", type=int, default=500_000)
    parser.add_argument(
        "--fed-lines", type=int, default=1_500_000, help="fed in the page (more than it holds)"
    )
    parser.add_argument("--logs-only", action="store_true", help="skip the fleet list part")
    parser.add_argument(
        "--no-engine", action="store_true", help="skip the end-to-end log part (no engine)"
    )
    parser.add_argument("--log-rate", type=int, default=50_000)
    args = parser.parse_args()
    if not args.no_engine:
        docker_host()
    configure("console", "warning")
    print(machine())
    run(args)


if __name__ == "__main__":
    main()

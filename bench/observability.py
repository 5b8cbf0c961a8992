"""Stats sampling and history: node agent CPU with 100 running containers sampled every 5 s,
and coordinator memory for the history of 10,000 containers.

    python -m bench.observability [--containers 100] [--seconds 60] [--history 10000]

The node figure is the agent process's own CPU time (``/proc/PID/stat``) over ``--seconds``,
with sampling on (``--stats-interval=5``) and, as the baseline, off (``--stats-interval=0``),
for the same running containers. The history figure fills ``docklord.coordinator.History``
in this process with one hour at 5 s (720 samples) per container and reads the RSS growth.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import secrets
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench._common import docker_host, machine, table
from docklord.coordinator import History
from docklord.model import StatsSample
from docklord.protocol import stats_batch_to_proto
from docklord.testing import CoordinatorProcess, NodeProcess

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_containers(n: int) -> list[str]:
    def one(_: int) -> str:
        done = subprocess.run(
            [
                "docker",
                "run",
                "-d",
                "--label=docklord.test=1",
                "--label=docklord.bench=1",
                "--network=none",
                "docklord-test/busybox:latest",
                "sleep",
                "3600",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(n)))


def remove(ids: list[str]) -> None:
    for start in range(0, len(ids), 50):
        subprocess.run(["docker", "rm", "-f", *ids[start : start + 50]], capture_output=True)


async def wait_sampled(url: str, token: str, node_id: str, n: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            nodes = (await client.get("/api/v1/nodes")).json()["nodes"]
            if any(x["node_id"] == node_id and x["status"] == "online" for x in nodes):
                rows = (await client.get(f"/api/v1/nodes/{node_id}/stats/history")).json()
                if n == 0 or (rows["samples"] and rows["samples"][-1]["containers_sampled"] >= n):
                    return
            await asyncio.sleep(0.5)
    raise SystemExit(f"node {node_id} did not sample {n} containers within 120 s")


def node_cpu(interval: float, seconds: float, n: int) -> tuple[float, float]:
    """The agent's CPU (% of one core) and RSS (MB) over ``seconds``, once it samples ``n``."""
    work = Path(tempfile.mkdtemp(prefix="docklord-bench-obs-"))
    coordinator = CoordinatorProcess(work / "c", extra_args=["--log-level=warning"])
    coordinator.workdir.mkdir(parents=True)
    coordinator.start()
    node = NodeProcess(
        [coordinator.ws_url],
        f"bench-{secrets.token_hex(3)}",
        secrets.token_urlsafe(16),
        docker_host=docker_host(),
        workdir=work / "n",
        extra_args=[f"--stats-interval={interval:g}", "--log-level=warning"],
    )
    node.workdir.mkdir(parents=True)
    try:
        coordinator.wait_ready()
        node.start()
        token = coordinator.login()
        asyncio.run(wait_sampled(coordinator.url, token, node.node_id, n if interval else 0))
        assert node.proc is not None
        time.sleep(5)  # settle after the start-up burst of stream opens
        before = cpu_seconds(node.proc.pid)
        time.sleep(seconds)
        used = cpu_seconds(node.proc.pid) - before
        return used / seconds * 100, rss_mb(node.proc.pid)
    finally:
        node.stop()
        coordinator.stop()


def history_memory(containers: int) -> tuple[float, float, float]:
    """RSS growth (MB), ring bytes (MB) and apply cost (µs a sample) for an hour at 5 s."""
    per_node = 50
    sample = StatsSample(
        read=1.0, cpu_percent=3.0, memory_usage=5 << 20, memory_limit=1 << 30, cpu_time=1.0
    )
    batches = {
        f"node-{k}": stats_batch_to_proto(
            1.0, 5.0, [(f"{k:06d}{i:058d}", sample) for i in range(per_node)]
        )
        for k in range(containers // per_node)
    }
    gc.collect()
    before = rss_mb()
    history = History(retention=3600.0)
    started = time.perf_counter()
    for _ in range(720):
        for node_id, batch in batches.items():
            history.apply(node_id, batch, running=per_node)
    cost = (time.perf_counter() - started) / (720 * containers) * 1e6
    gc.collect()
    return rss_mb() - before, history.nbytes / 2**20, cost


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--history", type=int, default=10_000)
    args = parser.parse_args()
    print(machine())
    grown, rings, cost = history_memory(args.history)
    ids = start_containers(args.containers)
    try:
        off = node_cpu(0, args.seconds, args.containers)
        on = node_cpu(5, args.seconds, args.containers)
    finally:
        remove(ids)
    rows = [
        (
            f"node agent, {args.containers} running, sampling off",
            f"{off[0]:.2f} % of a core, {off[1]:.0f} MB RSS",
            "-",
        ),
        (
            f"node agent, {args.containers} running, sampled every 5 s",
            f"{on[0]:.2f} % of a core, {on[1]:.0f} MB RSS",
            "<= 5 % of a core, <= 60 MB",
        ),
        (
            f"coordinator history, {args.history:,} containers x 1 h at 5 s",
            f"RSS +{grown:.0f} MB (rings {rings:.0f} MB), {cost:.1f} us per sample applied",
            "-",
        ),
    ]
    print(table(rows, ("what", "result", "target")))


if __name__ == "__main__":
    main()

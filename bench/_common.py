"""Shared pieces of the benchmarks: a coordinator + node pair, statistics, table printing."""

from __future__ import annotations

import asyncio
import os
import platform
import secrets
import statistics
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from docklord.store import Store, hash_password
from docklord.testing import CoordinatorProcess, NodeProcess


def docker_host() -> str:
    host = os.environ.get("DOCKER_HOST")
    if not host:
        raise SystemExit("set DOCKER_HOST (./scripts/engine prints it)")
    return host


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    engine = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), "
        f"{mem:.0f} GiB, Python {platform.python_version()}, Docker Engine {engine}"
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


@contextmanager
def fleet(transport: str = "ws") -> Iterator[tuple[CoordinatorProcess, NodeProcess, str]]:
    """A coordinator and one node process on the engine under test; yields a bearer token."""
    work = Path(tempfile.mkdtemp(prefix="docklord-bench-"))
    coordinator = CoordinatorProcess(work / "c", extra_args=["--log-level=warning"])
    coordinator.workdir.mkdir(parents=True)
    coordinator.start()
    coordinator.wait_ready()
    url = coordinator.ws_url if transport == "ws" else coordinator.grpc_url
    node = NodeProcess(
        [url],
        f"bench-{secrets.token_hex(3)}",
        secrets.token_urlsafe(16),
        docker_host=docker_host(),
        workdir=work / "n",
        extra_args=["--log-level=warning"],
    )
    node.workdir.mkdir(parents=True)
    node.start()
    try:
        token = coordinator.login()
        asyncio.run(_wait_online(coordinator, token, node.node_id))
        yield coordinator, node, token
    finally:
        node.stop()
        coordinator.stop()


async def _wait_online(coordinator: CoordinatorProcess, token: str, node_id: str) -> None:
    async with httpx.AsyncClient(
        base_url=coordinator.url, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        for _ in range(400):
            info = await client.get(f"/api/v1/nodes/{node_id}")
            if info.status_code == 200 and info.json()["status"] == "online":
                return
            await asyncio.sleep(0.05)
    raise SystemExit("node did not come online")


async def preregister(url: str, prefix: str, count: int, *, argon2: bool = False) -> dict[str, str]:
    """Registers ``count`` nodes in the store at ``url`` before its coordinator starts, with
    machine-made secrets (as ``POST /api/v1/nodes`` makes them); ``argon2`` then replaces their
    hashes with argon2 ones, as older versions stored them. Returns their ids and secrets.

    Open registration would throttle this many new nodes from one address.
    """
    nodes = {f"{prefix}{i:05d}": secrets.token_urlsafe(32) for i in range(count)}
    async with Store(url) as store:
        for node_id, secret in nodes.items():
            await store.register_node(node_id, secret)
    if argon2:
        hashes = await asyncio.gather(
            *(asyncio.to_thread(hash_password, s) for s in nodes.values())
        )
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            for node_id, secret_hash in zip(nodes, hashes, strict=True):
                await conn.execute(
                    text("UPDATE nodes SET secret_hash = :h WHERE node_id = :n"),
                    {"h": secret_hash, "n": node_id},
                )
        await engine.dispose()
    return nodes

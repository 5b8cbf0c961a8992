from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from docklord.config import CoordinatorConfig, NodeConfig
from docklord.coordinator import Coordinator
from docklord.link import Transport, memory_pair
from docklord.logs import configure
from docklord.node import NodeAgent

__all__ = ["up_main"]


async def up_main(cfg: CoordinatorConfig, docker_host: str) -> None:
    """Coordinator + a node for the local engine in one process, linked in memory.

    Registration is open (the in-process node registers itself on first start), the HTTP server
    binds to loopback unless told otherwise, and the gRPC listener is off: the local node needs
    no network link.
    """
    configure(cfg.log_format, cfg.log_level)
    cfg = dataclasses.replace(cfg, registration="open", grpc_port=0)
    node_cfg = NodeConfig(
        coordinator=("ws://in-process",),
        docker_host=docker_host,
        state_dir=str(Path(cfg.data_dir) / "node"),
        log_format=cfg.log_format,
        log_level=cfg.log_level,
    )
    async with Coordinator(cfg) as coordinator:
        serving: set[asyncio.Task[None]] = set()

        async def connect(url: str) -> Transport:
            node_end, coordinator_end = memory_pair()
            task = asyncio.create_task(coordinator.links.serve(coordinator_end))
            serving.add(task)
            task.add_done_callback(serving.discard)
            return node_end

        agent = NodeAgent(node_cfg, connect=connect, announce=lambda _: None)
        ready = asyncio.Event()
        async with asyncio.TaskGroup() as tasks:
            server = tasks.create_task(coordinator.serve(ready=ready))
            await ready.wait()
            print(f"Docklord is running: http://{cfg.host}:{coordinator.http_port}", flush=True)
            node = tasks.create_task(agent.run())
            await server
            node.cancel()

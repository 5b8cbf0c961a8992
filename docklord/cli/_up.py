"""``docklord up``: a coordinator and a node for the local engine in one process.

The coordinator outlives its local node. Whatever happens to the node (an admin revokes it, its
agent fails), the API keeps answering and the log says what happened and what to do:

- revoked, or its credentials refused: the node stays off until the operator acts; a restart on
  the same data dir says so again. ``docklord up --reset-local-node`` (or removing
  ``DATA_DIR/node/node.json``) gives it a new identity, which registers on first contact.
- any other failure of the agent: it is started again after a pause.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import structlog

from docklord._runtime import install_shutdown_signals
from docklord.config import CoordinatorConfig, NodeConfig
from docklord.coordinator import Coordinator
from docklord.errors import HandshakeRejected
from docklord.link import Transport, memory_pair
from docklord.logs import configure
from docklord.node import NodeAgent, load_identity
from docklord.server import HttpServer

__all__ = ["RESTART_DELAY", "reset_local_node", "up_main"]

log = structlog.get_logger(__name__)

#: Where ``save_identity`` keeps the local node's identity, under its state dir.
STATE_FILE = "node.json"
#: Seconds before a local agent that failed (not refused) is started again.
RESTART_DELAY = 5.0


def _node_config(cfg: CoordinatorConfig, docker_host: str) -> NodeConfig:
    return NodeConfig(
        coordinator=("ws://in-process",),
        docker_host=docker_host,
        state_dir=str(Path(cfg.data_dir) / "node"),
        log_format=cfg.log_format,
        log_level=cfg.log_level,
    )


def reset_local_node(data_dir: str) -> Path | None:
    """Forget the local node's identity, so that it registers again under a new id.

    Returns:
        The state file removed, or ``None`` when there was none.
    """
    path = Path(data_dir) / "node" / STATE_FILE
    if not path.exists():
        return None
    path.unlink()
    return path


async def up_main(cfg: CoordinatorConfig, docker_host: str, *, reset_node: bool = False) -> None:
    """Coordinator + a node for the local engine in one process, linked in memory.

    Registration is open (the in-process node registers itself on first start), the HTTP server
    binds to loopback unless told otherwise, and the gRPC listener is off: the local node needs
    no network link. With ``reset_node`` the local node's stored identity is dropped first.
    """
    configure(cfg.log_format, cfg.log_level)
    cfg = dataclasses.replace(cfg, registration="open", grpc_port=0)
    node_cfg = _node_config(cfg, docker_host)
    if reset_node:
        old = load_identity(node_cfg.state_dir)
        if reset_local_node(cfg.data_dir) is not None and old is not None:
            log.warning(
                "local node identity reset; the node registers again under a new id",
                old_node_id=old.node_id,
            )
    async with Coordinator(cfg) as coordinator:
        # The local node runs until the server has drained: requests in flight need it.
        http = HttpServer(coordinator)
        install_shutdown_signals(http.shutdown)
        ready = asyncio.Event()
        async with asyncio.TaskGroup() as tasks:
            server = tasks.create_task(http.serve(ready=ready))
            await ready.wait()
            print(f"Docklord is running: http://{cfg.host}:{http.port}", flush=True)
            node = tasks.create_task(_LocalNode(coordinator, node_cfg).run())
            await server
            node.cancel()


class _LocalNode:
    """Runs the in-process node agent and keeps its failures away from the coordinator."""

    def __init__(self, coordinator: Coordinator, config: NodeConfig) -> None:
        self.coordinator = coordinator
        self.config = config
        self._serving: set[asyncio.Task[None]] = set()

    async def _connect(self, url: str) -> Transport:
        node_end, coordinator_end = memory_pair()
        task = asyncio.create_task(self.coordinator.links.serve(coordinator_end))
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)
        return node_end

    async def run(self) -> None:
        """Run the agent until cancelled, or until the coordinator refuses it for good."""
        while True:
            agent = NodeAgent(self.config, connect=self._connect, announce=lambda _: None)
            try:
                await agent.run()
            except Exception as exc:  # noqa: BLE001 - the node's failure must not end `up`
                rejected = _rejection(exc)
                if rejected is not None:
                    self._refused(agent, rejected)
                    return
                log.error(
                    "local node failed; starting it again",
                    error=_describe(exc),
                    retry_in=RESTART_DELAY,
                )
            await asyncio.sleep(RESTART_DELAY)

    def _refused(self, agent: NodeAgent, exc: HandshakeRejected) -> None:
        node_id = agent.identity.node_id if agent.identity else "?"
        state = Path(self.config.state_dir) / STATE_FILE
        what = "was revoked" if exc.reason == "revoked" else f"was refused ({exc.reason})"
        log.error(
            f"the local node {node_id} {what}; the coordinator keeps running without it. "
            f"To register the local node again, restart with `docklord up --reset-local-node` "
            f"(or remove {state})",
            node_id=node_id,
            reason=exc.reason,
        )


def _rejection(exc: BaseException) -> HandshakeRejected | None:
    if isinstance(exc, HandshakeRejected):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _rejection(inner)
            if found is not None:
                return found
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return "; ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"

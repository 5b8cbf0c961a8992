from __future__ import annotations

import asyncio
import os
from enum import StrEnum
from typing import Annotated, Any

import typer

from docklord import __version__
from docklord.config import CoordinatorConfig, NodeConfig, load
from docklord.errors import ConfigError, DocklordError, HandshakeRejected

__all__ = ["app", "main"]

app = typer.Typer(
    name="docklord",
    help="Manage and monitor Docker containers across many hosts, live, from one place.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Kind(StrEnum):
    """The roles ``--type`` accepts (as documented for the original Docklord)."""

    coordinator = "coordinator"
    node = "node"


ConfigFile = Annotated[
    str | None, typer.Option("--config", help="TOML file (its coordinator or node table).")
]
LogFormat = Annotated[str | None, typer.Option(help="Log format: console or json.")]
LogLevel = Annotated[str | None, typer.Option(help="debug, info, warning or error.")]


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    type_: Annotated[
        Kind | None,
        typer.Option("--type", help="Run as coordinator or node with settings from env/file."),
    ] = None,
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    """Docklord: a coordinator, node agents that dial out to it, and this CLI."""
    if version:
        typer.echo(f"docklord {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is not None:
        return
    if type_ is Kind.coordinator:
        _run(_coordinator_main(load(CoordinatorConfig, environ=os.environ)))
    elif type_ is Kind.node:
        _run(_node_main(load(NodeConfig, environ=os.environ)))
    else:
        typer.echo(ctx.get_help())


@app.command()
def coordinator(
    host: Annotated[str | None, typer.Option(help="Address to bind. (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port. (default 3000)")] = None,
    grpc_port: Annotated[
        int | None, typer.Option(help="gRPC node-link port; 0 disables. (default 50051)")
    ] = None,
    data_dir: Annotated[str | None, typer.Option(help="Data directory. (default ./data)")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL (postgresql+asyncpg://...).")
    ] = None,
    registration: Annotated[
        str | None, typer.Option(help="enroll (pre-registered nodes only) or open.")
    ] = None,
    tls_cert: Annotated[
        str | None, typer.Option(help="PEM certificate: serve HTTPS/WSS and gRPC over TLS.")
    ] = None,
    tls_key: Annotated[str | None, typer.Option(help="PEM private key of --tls-cert.")] = None,
    header_timeout: Annotated[
        float | None, typer.Option(help="Seconds to send a request's headers. (default 10)")
    ] = None,
    body_timeout: Annotated[
        float | None, typer.Option(help="Seconds to send a request's body. (default 60)")
    ] = None,
    keepalive_timeout: Annotated[
        float | None, typer.Option(help="Seconds an idle connection is kept. (default 5)")
    ] = None,
    max_connections: Annotated[
        int | None, typer.Option(help="Open connections before 503; 0: no limit. (default 10000)")
    ] = None,
    max_client_connections: Annotated[
        int | None,
        typer.Option(help="Slow connections per client address; 0: no limit. (default 100)"),
    ] = None,
    max_header_size: Annotated[
        int | None, typer.Option(help="Bytes of a request's headers. (default 65536)")
    ] = None,
    stats_retention: Annotated[
        float | None,
        typer.Option(help="Seconds of stats history kept per container. (default 3600)"),
    ] = None,
    metrics_public: Annotated[
        bool | None,
        typer.Option(
            "--metrics-public/--no-metrics-public",
            help="Serve /metrics without a token. (default: a viewer token needed)",
        ),
    ] = None,
    config: ConfigFile = None,
    log_format: LogFormat = None,
    log_level: LogLevel = None,
) -> None:
    """Run the coordinator: REST + WebSocket API, node links (WebSocket and gRPC)."""
    flags = {k: v for k, v in locals().items() if k != "config"}
    cfg = _load(CoordinatorConfig, flags, config)
    _run(_coordinator_main(cfg))


@app.command()
def node(
    coordinator: Annotated[
        list[str] | None,
        typer.Option(help="ws://HOST:PORT or grpc://HOST:PORT; repeat to list several."),
    ] = None,
    node_id: Annotated[str | None, typer.Option(help="This node's id.")] = None,
    password: Annotated[
        str | None, typer.Option(help="This node's secret (prefer DOCKLORD_PASSWORD).")
    ] = None,
    enroll_token: Annotated[str | None, typer.Option(help="One-time enrollment token.")] = None,
    docker_host: Annotated[str | None, typer.Option(help="Engine address (DOCKER_HOST).")] = None,
    state_dir: Annotated[
        str | None, typer.Option(help="Where the identity is kept. (default ./node-state)")
    ] = None,
    ca_file: Annotated[str | None, typer.Option(help="CA of the coordinator's TLS cert.")] = None,
    instance_image: Annotated[
        str | None,
        typer.Option(help="Image of instances (never pulled). (default docklord/instance:latest)"),
    ] = None,
    instance_port_base: Annotated[
        int | None, typer.Option(help="Lowest host port of an instance. (default 1024)")
    ] = None,
    instance_host_ip: Annotated[
        str | None, typer.Option(help="Host address of instance ports. (default 0.0.0.0)")
    ] = None,
    max_instances: Annotated[
        int | None, typer.Option(help="Instances this node holds at most. (default 20)")
    ] = None,
    stats_interval: Annotated[
        float | None,
        typer.Option(help="Seconds between container resource samples; 0 = off. (default 5)"),
    ] = None,
    config: ConfigFile = None,
    log_format: LogFormat = None,
    log_level: LogLevel = None,
) -> None:
    """Run a node agent for the local Docker Engine; it dials out to the coordinator.

    Without --node-id/--password it makes an identity on first start and keeps
    it in STATE_DIR/node.json (mode 0600). It prints the password only when
    stdout is a terminal; otherwise it prints the path of that file instead.
    """
    flags: dict[str, Any] = {k: v for k, v in locals().items() if k != "config"}
    flags["coordinator"] = tuple(coordinator or ())
    if docker_host is None and os.environ.get("DOCKER_HOST"):
        flags["docker_host"] = os.environ["DOCKER_HOST"]
    cfg = _load(NodeConfig, flags, config)
    _run(_node_main(cfg))


@app.command()
def up(
    port: Annotated[int | None, typer.Option(help="HTTP port. (default 3000)")] = None,
    data_dir: Annotated[str | None, typer.Option(help="Data directory. (default ./data)")] = None,
    docker_host: Annotated[str | None, typer.Option(help="Engine address (DOCKER_HOST).")] = None,
    reset_local_node: Annotated[
        bool,
        typer.Option(
            "--reset-local-node",
            help="Forget the local node's identity (DATA_DIR/node/node.json) so that it "
            "registers again under a new id: the way back after it was revoked.",
        ),
    ] = False,
    log_format: LogFormat = None,
    log_level: LogLevel = None,
) -> None:
    """All in one: a coordinator on 127.0.0.1 plus a node for the local engine, in one process.

    The coordinator keeps running whatever happens to the local node.

    A revoked local node stays off, also after a restart, until `--reset-local-node`.
    """
    from docklord.cli._up import up_main

    flags = {"port": port, "data_dir": data_dir, "log_format": log_format, "log_level": log_level}
    cfg = _load(CoordinatorConfig, flags, None)
    docker = docker_host or os.environ.get("DOCKER_HOST", "")
    _run(up_main(cfg, docker, reset_node=reset_local_node))


def _load(cls: Any, flags: dict[str, Any], config_file: str | None) -> Any:
    try:
        return load(cls, flags=flags, environ=os.environ, config_file=config_file)
    except ConfigError as exc:
        raise typer.BadParameter(exc.message) from exc


async def _coordinator_main(cfg: CoordinatorConfig) -> None:
    from docklord._runtime import install_shutdown_signals
    from docklord.coordinator import Coordinator
    from docklord.logs import configure
    from docklord.server import HttpServer

    configure(cfg.log_format, cfg.log_level)
    async with Coordinator(cfg) as coordinator:
        server = HttpServer(coordinator)
        install_shutdown_signals(server.shutdown)
        await server.serve()


async def _node_main(cfg: NodeConfig) -> None:
    from docklord._runtime import install_shutdown_signals, install_stats_signal
    from docklord.logs import configure
    from docklord.node import NodeAgent

    configure(cfg.log_format, cfg.log_level)
    install_stats_signal()
    agent = NodeAgent(cfg)
    install_shutdown_signals(agent.shutdown)
    await agent.run()


def _run(main: Any) -> None:
    try:
        asyncio.run(main)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except (DocklordError, BaseExceptionGroup) as exc:
        leaf = _leaf(exc)
        if not isinstance(leaf, DocklordError):
            raise
        typer.echo(f"docklord: {leaf.message}", err=True)
        raise typer.Exit(3 if isinstance(leaf, HandshakeRejected) else 1) from None


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def main() -> None:
    """Console entry point."""
    app()

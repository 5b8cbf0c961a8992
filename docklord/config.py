"""Configuration, loaded once into frozen dataclasses.

Every setting comes from the first place that has it, in this order:

1. a command-line flag (``--port 3000``),
2. an environment variable ``DOCKLORD_<NAME>`` (``DOCKLORD_PORT=3000``),
3. the TOML file given by ``--config`` / ``DOCKLORD_CONFIG``, in its ``[coordinator]`` or
   ``[node]`` table (``port = 3000``),
4. the default written in the dataclass below.

Lists (``coordinator`` URLs of a node) are comma-separated in the environment. Nothing else in
Docklord reads ``os.environ``; the CLI calls :func:`load` once and passes the result down.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from docklord.errors import ConfigError

__all__ = ["CoordinatorConfig", "InstanceSettings", "NodeConfig", "load"]

C = TypeVar("C", "CoordinatorConfig", "NodeConfig")


@dataclasses.dataclass(frozen=True, slots=True)
class CoordinatorConfig:
    """Settings of a coordinator (and of the coordinator half of ``docklord up``).

    Attributes:
        host: address the HTTP server binds to.
        port: HTTP port (REST, WebSocket streams, UI, and the WebSocket node link).
        grpc_port: port of the gRPC node link; 0 disables it.
        data_dir: where the SQLite database lives.
        database_url: a SQLAlchemy URL; empty means SQLite in ``data_dir``.
        registration: ``enroll`` (only pre-registered nodes or enrollment tokens) or ``open``
            (a new node id registers on first contact; later contacts must prove the secret).
        admin_password: password of the first ``admin`` user; empty means generate one and
            print it once.
        request_timeout: seconds a request to a node may take before it fails.
        log_format: ``console`` or ``json``.
        log_level: ``debug``, ``info``, ``warning`` or ``error``.
        tls_cert: PEM certificate (chain) to serve HTTPS/WSS and gRPC over TLS; empty: plain.
        tls_key: PEM private key of ``tls_cert``.
        header_timeout: seconds a client has to send a request's headers (a WebSocket
            handshake's too), counted from the connection or from the end of the previous
            response; then the connection is closed.
        body_timeout: seconds a client has, once the headers arrived, to send the body.
        keepalive_timeout: seconds an idle HTTP connection is kept open between requests.
        max_connections: open connections (WebSockets included) past which new requests are
            answered ``503``; 0: no limit.
        max_client_connections: connections one client address may have that are still
            sending their request after 2 seconds; past it, its oldest such
            connections are closed. 0: no limit.
        max_header_size: bytes of a request's line and headers together (``400`` past it).
        stats_retention: seconds of resource history kept per container (a ring buffer of
            ``stats_retention / interval`` samples at each node's sampling interval).
        metrics_public: serve ``/metrics`` without a token (default: a viewer token needed).
        event_journal: engine events kept per node to catch clients up after a dropped
            socket (``since_seq``); 100 to 1,000,000 (a soak shrinks it to see it full).
    """

    host: str = "127.0.0.1"
    port: int = 3000
    grpc_port: int = 50051
    data_dir: str = "./data"
    database_url: str = ""
    registration: str = "enroll"
    admin_password: str = dataclasses.field(default="", repr=False)
    request_timeout: float = 30.0
    log_format: str = "console"
    log_level: str = "info"
    tls_cert: str = ""
    tls_key: str = ""
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keepalive_timeout: float = 5.0
    max_connections: int = 10_000
    max_client_connections: int = 100
    max_header_size: int = 64 * 1024
    stats_retention: float = 3600.0
    metrics_public: bool = False
    event_journal: int = 10_000

    def __post_init__(self) -> None:
        if not 0 < self.stats_retention <= 7 * 86400:
            raise ConfigError("stats_retention must be between 0 and 604800 seconds")
        _check_journal(self.event_journal)
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("tls_cert and tls_key go together")
        if self.registration not in ("enroll", "open"):
            raise ConfigError("registration must be 'enroll' or 'open'")
        for name in ("port", "grpc_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise ConfigError(f"{name} must be between 0 and 65535")
        _check_logging(self.log_format, self.log_level)
        self._check_limits()

    def _check_limits(self) -> None:
        for name in ("header_timeout", "body_timeout", "keepalive_timeout"):
            value = getattr(self, name)
            if not 0 < value <= 3600:  # NaN fails too
                raise ConfigError(f"{name} must be more than 0 and at most 3600 seconds")
        for name in ("max_connections", "max_client_connections"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative (0: no limit)")
        if not 1024 <= self.max_header_size <= 1024 * 1024:
            raise ConfigError("max_header_size must be between 1024 and 1048576 bytes")

    @property
    def effective_database_url(self) -> str:
        """The database to use: ``database_url``, or SQLite in ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{Path(self.data_dir).resolve() / 'docklord.db'}"


@dataclasses.dataclass(frozen=True, slots=True)
class NodeConfig:
    """Settings of a node agent.

    Attributes:
        coordinator: coordinator URLs (``ws://``, ``wss://``, ``grpc://``, ``grpcs://``), tried
            in turn until one accepts the link.
        node_id: this node's id; empty means take it from the state file, or generate one.
        password: this node's secret; empty means take it from the state file, or generate one.
        enroll_token: a one-time enrollment token from an admin (used instead of a password).
        docker_host: the engine address; empty means ``DOCKER_HOST`` or the default socket.
        state_dir: where the node keeps its identity (``node.json``, mode 0600).
        ca_file: PEM file of the CA that signed the coordinator's certificate.
        log_format: ``console`` or ``json``.
        log_level: ``debug``, ``info``, ``warning`` or ``error``.
        instance_image: the image instances (per-user SSH boxes) are created from; it must be
            on this node's engine (it is never pulled).
        instance_port_base: the lowest host port of an instance; each instance takes the
            lowest free block of three consecutive ports (SSH, HTTP, HTTPS) at or above it.
        instance_host_ip: the host address the instance ports are published on.
        max_instances: how many instances this node holds at most (0: none).
        stats_interval: seconds between resource samples of the running containers sent to
            the coordinator (history, ``/metrics``): 1 to 3600; 0 turns sampling off.
        event_journal: engine events kept to catch the coordinator up after a relink;
            100 to 1,000,000.
    """

    coordinator: tuple[str, ...] = ("ws://127.0.0.1:3000",)
    node_id: str = ""
    password: str = dataclasses.field(default="", repr=False)
    enroll_token: str = dataclasses.field(default="", repr=False)
    docker_host: str = ""
    state_dir: str = "./node-state"
    ca_file: str = ""
    log_format: str = "console"
    log_level: str = "info"
    instance_image: str = "docklord/instance:latest"
    instance_port_base: int = 1024
    instance_host_ip: str = "0.0.0.0"  # noqa: S104 - instances serve their users
    max_instances: int = 20
    stats_interval: float = 5.0
    event_journal: int = 10_000

    def __post_init__(self) -> None:
        if not self.coordinator:
            raise ConfigError("at least one coordinator URL is needed")
        for url in self.coordinator:
            if not url.startswith(("ws://", "wss://", "grpc://", "grpcs://")):
                raise ConfigError(
                    f"coordinator URL {url!r} must start with ws://, wss://, grpc:// or grpcs://"
                )
        _check_logging(self.log_format, self.log_level)
        self.instance_settings()
        if self.stats_interval != 0 and not 1 <= self.stats_interval <= 3600:
            raise ConfigError("stats_interval must be 0 (off) or between 1 and 3600 seconds")
        _check_journal(self.event_journal)

    def instance_settings(self) -> InstanceSettings:
        """How this node makes instances (checked when the config is made)."""
        return InstanceSettings(
            image=self.instance_image,
            port_base=self.instance_port_base,
            host_ip=self.instance_host_ip,
            max_instances=self.max_instances,
        )


def _check_journal(size: int) -> None:
    if not 100 <= size <= 1_000_000:
        raise ConfigError("event_journal must be between 100 and 1000000 events")


@dataclasses.dataclass(frozen=True, slots=True)
class InstanceSettings:
    """How a node makes instances (``NodeConfig``'s ``instance_*`` and ``max_instances``).

    The one place these settings are checked: ``NodeConfig`` builds one when it is made.

    Args:
        image: the instance image; it must be on the engine (it is never pulled).
        port_base: the lowest host port an instance may take.
        host_ip: the host address the instance ports are published on.
        max_instances: how many instances the node holds at most.
    """

    image: str = "docklord/instance:latest"
    port_base: int = 1024
    host_ip: str = "0.0.0.0"  # noqa: S104 - instances serve their users
    max_instances: int = 20

    def __post_init__(self) -> None:
        if not self.image:
            raise ConfigError("instance_image must not be empty")
        if not 1 <= self.port_base <= 65533:
            # The block P, P+1, P+2 (SSH, HTTP, HTTPS) must fit below 65536.
            raise ConfigError("instance_port_base must be between 1 and 65533")
        try:
            ipaddress.ip_address(self.host_ip)
        except ValueError as exc:
            raise ConfigError(
                f"instance_host_ip must be an IP address ({self.host_ip!r} is not an IP)"
            ) from exc
        if self.max_instances < 0:
            raise ConfigError("max_instances must not be negative")


def _check_logging(fmt: str, level: str) -> None:
    if fmt not in ("console", "json"):
        raise ConfigError("log format must be 'console' or 'json'")
    if level not in ("debug", "info", "warning", "error"):
        raise ConfigError("log level must be debug, info, warning or error")


def load(
    cls: type[C],
    *,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: str | None = None,
) -> C:
    """Build a config of type ``cls`` from flags, environment, TOML file and defaults.

    Args:
        cls: :class:`CoordinatorConfig` or :class:`NodeConfig`.
        flags: values given on the command line; ``None`` values count as not given.
        environ: the process environment (the caller passes ``os.environ``).
        config_file: a TOML file; its ``[coordinator]`` or ``[node]`` table is read.

    Raises:
        ConfigError: a value has the wrong type or is out of range, or the file is unreadable.
    """
    env = environ or {}
    section = "coordinator" if cls is CoordinatorConfig else "node"
    path = config_file or env.get("DOCKLORD_CONFIG")
    from_file = _read_toml(path, section) if path else {}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        name, hint = field.name, hints[field.name]
        given = (flags or {}).get(name)
        if given is not None and given != ():
            values[name] = _coerce(name, given, hint)
        elif f"DOCKLORD_{name.upper()}" in env:
            values[name] = _coerce(name, env[f"DOCKLORD_{name.upper()}"], hint)
        elif name in from_file:
            values[name] = _coerce(name, from_file[name], hint)
    return cls(**values)


def _read_toml(path: str, section: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    table = data.get(section, {})
    if not isinstance(table, dict):
        raise ConfigError(f"[{section}] in {path} must be a table")
    return table


def _coerce(name: str, value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    try:
        if origin is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(v).strip() for v in items if str(v).strip())
        if origin in (typing.Union, types.UnionType):
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        if hint is bool and isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return hint(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid value for {name}: {value!r}") from exc

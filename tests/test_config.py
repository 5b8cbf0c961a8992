from __future__ import annotations

from pathlib import Path

import pytest

import docklord.node
from docklord.config import CoordinatorConfig, InstanceSettings, NodeConfig, load
from docklord.errors import ConfigError


def test_flags_beat_env_beat_file_beat_defaults(tmp_path: Path) -> None:
    toml = tmp_path / "docklord.toml"
    toml.write_text('[coordinator]\nport = 4000\ngrpc_port = 4001\nhost = "0.0.0.0"\n')
    env = {"DOCKLORD_GRPC_PORT": "5001", "DOCKLORD_HOST": "10.0.0.1"}
    cfg = load(CoordinatorConfig, flags={"host": "127.0.0.2"}, environ=env, config_file=str(toml))
    assert cfg.host == "127.0.0.2"  # flag
    assert cfg.grpc_port == 5001  # env
    assert cfg.port == 4000  # file
    assert cfg.registration == "enroll"  # default


def test_config_file_from_environment(tmp_path: Path) -> None:
    toml = tmp_path / "n.toml"
    toml.write_text('[node]\ncoordinator = ["ws://a:1", "grpc://b:2"]\n')
    cfg = load(NodeConfig, environ={"DOCKLORD_CONFIG": str(toml)})
    assert cfg.coordinator == ("ws://a:1", "grpc://b:2")


def test_lists_are_comma_separated_in_the_environment() -> None:
    cfg = load(NodeConfig, environ={"DOCKLORD_COORDINATOR": "ws://a:1, grpcs://b:2"})
    assert cfg.coordinator == ("ws://a:1", "grpcs://b:2")


@pytest.mark.parametrize(
    ("cls", "env", "message"),
    [
        (CoordinatorConfig, {"DOCKLORD_PORT": "http"}, "invalid value for port"),
        (CoordinatorConfig, {"DOCKLORD_PORT": "70000"}, "between 0 and 65535"),
        (CoordinatorConfig, {"DOCKLORD_REGISTRATION": "maybe"}, "registration"),
        (NodeConfig, {"DOCKLORD_COORDINATOR": "http://x"}, "must start with ws://"),
        (NodeConfig, {"DOCKLORD_LOG_FORMAT": "xml"}, "log format"),
        (NodeConfig, {"DOCKLORD_INSTANCE_PORT_BASE": "0"}, "between 1 and 65533"),
        (NodeConfig, {"DOCKLORD_INSTANCE_PORT_BASE": "65534"}, "between 1 and 65533"),
        (NodeConfig, {"DOCKLORD_INSTANCE_PORT_BASE": "high"}, "invalid value"),
        (NodeConfig, {"DOCKLORD_INSTANCE_HOST_IP": "localhost"}, "must be an IP address"),
        (NodeConfig, {"DOCKLORD_MAX_INSTANCES": "-1"}, "must not be negative"),
        (NodeConfig, {"DOCKLORD_INSTANCE_IMAGE": ""}, "must not be empty"),
        (CoordinatorConfig, {"DOCKLORD_HEADER_TIMEOUT": "0"}, "more than 0 and at most 3600"),
        (CoordinatorConfig, {"DOCKLORD_BODY_TIMEOUT": "nan"}, "more than 0 and at most 3600"),
        (CoordinatorConfig, {"DOCKLORD_KEEPALIVE_TIMEOUT": "1e9"}, "at most 3600"),
        (CoordinatorConfig, {"DOCKLORD_MAX_CONNECTIONS": "-1"}, "must not be negative"),
        (CoordinatorConfig, {"DOCKLORD_MAX_CLIENT_CONNECTIONS": "-5"}, "must not be negative"),
        (CoordinatorConfig, {"DOCKLORD_MAX_HEADER_SIZE": "10"}, "between 1024 and 1048576"),
        (CoordinatorConfig, {"DOCKLORD_EVENT_JOURNAL": "99"}, "between 100 and 1000000"),
        (NodeConfig, {"DOCKLORD_EVENT_JOURNAL": "2000000"}, "between 100 and 1000000"),
    ],
)
def test_bad_values_are_config_errors(
    cls: type[CoordinatorConfig] | type[NodeConfig], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load(cls, environ=env)


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load(CoordinatorConfig, environ={}, config_file=str(bad))


def test_secrets_stay_out_of_repr() -> None:
    cfg = load(NodeConfig, environ={"DOCKLORD_PASSWORD": "hunter2-secret"})
    assert cfg.password == "hunter2-secret"
    assert "hunter2-secret" not in repr(cfg)


def test_sqlite_url_lives_in_the_data_dir(tmp_path: Path) -> None:
    cfg = CoordinatorConfig(data_dir=str(tmp_path))
    assert cfg.effective_database_url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/docklord.db"
    other = CoordinatorConfig(database_url="postgresql+asyncpg://x/y")
    assert other.effective_database_url == "postgresql+asyncpg://x/y"


def test_instance_settings_defaults_and_sources(tmp_path: Path) -> None:
    default = NodeConfig()
    assert default.instance_image == "docklord/instance:latest"
    assert (default.instance_port_base, default.instance_host_ip) == (1024, "0.0.0.0")  # noqa: S104
    assert default.max_instances == 20
    toml = tmp_path / "n.toml"
    toml.write_text('[node]\ninstance_port_base = 20000\ninstance_host_ip = "::1"\n')
    env = {"DOCKLORD_MAX_INSTANCES": "0", "DOCKLORD_INSTANCE_PORT_BASE": "30000"}
    cfg = load(
        NodeConfig,
        flags={"instance_image": "example/box:1"},
        environ=env,
        config_file=str(toml),
    )
    assert cfg.instance_image == "example/box:1"  # flag
    assert (cfg.instance_port_base, cfg.max_instances) == (30000, 0)  # env
    assert cfg.instance_host_ip == "::1"  # file
    assert NodeConfig(instance_port_base=65533).instance_port_base == 65533


def test_http_limits_defaults_and_sources(tmp_path: Path) -> None:
    defaults = CoordinatorConfig()
    assert (defaults.header_timeout, defaults.body_timeout, defaults.keepalive_timeout) == (
        10.0,
        60.0,
        5.0,
    )
    assert (defaults.max_connections, defaults.max_client_connections) == (10_000, 100)
    toml = tmp_path / "c.toml"
    toml.write_text("[coordinator]\nheader_timeout = 7\nmax_client_connections = 3\n")
    env = {"DOCKLORD_HEADER_TIMEOUT": "5", "DOCKLORD_MAX_CONNECTIONS": "0"}
    cfg = load(CoordinatorConfig, flags={"header_timeout": 2.5}, environ=env, config_file=str(toml))
    assert cfg.header_timeout == 2.5  # flag
    assert cfg.max_connections == 0  # env: no limit
    assert cfg.max_client_connections == 3  # file


def test_instance_settings_are_checked_in_one_place() -> None:
    # The node's registry takes the very type the config builds and checks.
    assert docklord.node.InstanceSettings is InstanceSettings
    cfg = NodeConfig(instance_port_base=30000, instance_host_ip="::1", max_instances=2)
    assert cfg.instance_settings() == InstanceSettings("docklord/instance:latest", 30000, "::1", 2)
    with pytest.raises(ConfigError, match="instance_port_base must be between 1 and 65533"):
        InstanceSettings(port_base=65534)

from __future__ import annotations

from pathlib import Path

import pytest

from docklord.config import CoordinatorConfig, NodeConfig, load
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

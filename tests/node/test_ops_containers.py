"""Pure logic of container operations: node argument checks, JSON conversions, request bodies."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import ValidationError

from docklord.engine import Engine
from docklord.errors import InvalidInput
from docklord.model import ContainerSummary, ExecResult, PortBinding
from docklord.node import Operations, _ops_images, _ops_networks, _ops_volumes
from docklord.node._ops_containers import (
    MAX_EXEC_OUTPUT,
    _exec_json,
    channels,
    container_spec,
    methods,
    to_json,
)
from docklord.protocol.methods import signal_name as _signal
from docklord.web._containers import (
    ContainerCreate,
    ExecIn,
    details_json,
    parse_memory,
    summary_from_json,
)

# Nothing listens here: a check that reached the engine would fail with EngineUnavailable.
NOWHERE = "unix:///nonexistent/docker.sock"


def test_the_node_serves_every_operation() -> None:
    engine = Engine(NOWHERE)
    verbs = "create inspect start stop restart kill pause unpause remove top exec"
    expected = {f"containers.{verb}" for verb in verbs.split()}
    expected |= {"images.list", "images.remove", "images.prune"}
    expected |= {"volumes.list", "volumes.create", "volumes.remove", "volumes.prune"}
    expected |= {"networks.list", "networks.create", "networks.remove", "networks.prune"}
    modules = (_ops_images, _ops_volumes, _ops_networks)
    assert set(methods(engine)).union(*(set(mod.methods(engine)) for mod in modules)) == expected
    assert set(channels(engine)).union(*(set(mod.channels(engine)) for mod in modules)) == {
        "images.pull"
    }
    assert expected <= Operations(engine).method_names


def test_container_spec_from_arguments() -> None:
    spec = container_spec(
        {
            "image": "busybox",
            "name": "web",
            "cmd": ["sleep", "1"],
            "env": {"A": "b"},
            "ports": [{"container_port": 80, "host_ip": "127.0.0.1", "host_port": 8080}],
            "mounts": [{"source": "data", "target": "/data", "type": "volume"}],
            "restart_policy": "on-failure",
            "restart_max_retries": 2,
            "cpus": 1,
            "memory": 64 * 1024 * 1024,
            "tty": True,
            "start": True,
        }
    )
    assert (spec.image, spec.name, spec.cmd, spec.env) == (
        "busybox",
        "web",
        ("sleep", "1"),
        {"A": "b"},
    )
    assert spec.ports[0].host_port == 8080 and spec.mounts[0].type == "volume"
    assert (spec.cpus, spec.memory, spec.tty) == (1.0, 64 * 1024 * 1024, True)


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"image": ""},
        {"image": 3},
        {"image": "x", "privileged": True},
        {"image": "x", "cmd": "sleep 1"},
        {"image": "x", "cmd": [1]},
        {"image": "x", "env": {"A": 1}},
        {"image": "x", "env": ["A=1"]},
        {"image": "x", "ports": [{"container_port": True}]},
        {"image": "x", "ports": [{"container_port": 70000}]},
        {"image": "x", "ports": [{}]},
        {"image": "x", "ports": ["80"]},
        {"image": "x", "mounts": [{"source": "a", "target": "/b", "type": "tmpfs"}]},
        {"image": "x", "mounts": [{"source": "a", "target": "relative"}]},
        {"image": "x", "restart_policy": "sometimes"},
        {"image": "x", "cpus": "1"},
        {"image": "x", "memory": 0},
        {"image": "x", "tty": "yes"},
    ],
)
def test_container_spec_refuses_bad_arguments(args: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        container_spec(args)


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("containers.stop", {"ref": "x", "timeout": 601}),
        ("containers.restart", {"ref": "x", "timeout": -1}),
        ("containers.kill", {"ref": "x", "signal": "KILL; rm"}),
        ("containers.top", {"ref": "x", "ps_args": "aux; rm -rf /"}),
        ("containers.exec", {"ref": "x", "cmd": []}),
        ("containers.exec", {"ref": "x", "cmd": ["ls"], "timeout": 0}),
        ("containers.exec", {"ref": "x", "cmd": ["ls"], "timeout": 3601}),
        ("containers.inspect", {}),
        ("containers.remove", {"ref": "x", "force": "yes"}),
        ("images.prune", {"labels": [""]}),
        ("networks.prune", {"labels": [""]}),
        ("volumes.remove", {"name": ""}),
    ],
)
async def test_bad_arguments_fail_before_the_engine_is_asked(
    method: str, args: dict[str, Any]
) -> None:
    with pytest.raises(InvalidInput):
        await _every_method(Engine(NOWHERE))[method](args)


def _every_method(engine: Engine) -> dict[str, Any]:
    modules = (_ops_images, _ops_volumes, _ops_networks)
    return {**methods(engine), **{k: v for mod in modules for k, v in mod.methods(engine).items()}}


def test_exec_output_is_decoded_and_bounded() -> None:
    result = ExecResult(0, b"ok \xff\n", b"x" * (MAX_EXEC_OUTPUT + 10))
    doc = _exec_json(result)
    assert doc["stdout"] == "ok \ufffd\n" and len(doc["stderr"]) == MAX_EXEC_OUTPUT
    assert doc["truncated"] is True and doc["timed_out"] is False and doc["exit_code"] == 0


def test_to_json_refuses_what_it_does_not_know() -> None:
    with pytest.raises(TypeError):
        to_json(object())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (8 * 1024 * 1024, 8 * 1024 * 1024),
        ("256m", 256 * 1024 * 1024),
        ("256MB", 256 * 1024 * 1024),
        ("512MiB", 512 * 1024 * 1024),
        ("1.5g", 1536 * 1024 * 1024),
        ("7340032", 7340032),
    ],
)
def test_parse_memory(value: int | str, expected: int) -> None:
    assert parse_memory(value) == expected


@pytest.mark.parametrize("value", ["", "lots", "-5m", "5x", "1k", 1024])
def test_parse_memory_refuses(value: int | str) -> None:
    with pytest.raises(ValueError):
        parse_memory(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("SIGKILL", "SIGKILL"), ("kill", "SIGKILL"), ("9", "9"), ("usr1", "SIGUSR1")]
    + [("RTMIN+3", "SIGRTMIN+3"), ("sigterm", "SIGTERM")],
)
def test_signal_names(value: str, expected: str) -> None:
    assert _signal(value) == expected


@pytest.mark.parametrize("value", ["", "0", "65", "NOPE", "SIG", "KILL;x"])
def test_signal_refuses(value: str) -> None:
    with pytest.raises(ValueError):
        _signal(value)


def test_create_body_and_its_audit_parameters() -> None:
    body = ContainerCreate.model_validate(
        {"image": "busybox", "env": {"TOKEN": "secret"}, "memory": "64m", "start": True}
    )
    assert body.memory == 64 * 1024 * 1024
    assert body.model_dump(exclude_none=True)["env"] == {"TOKEN": "secret"}
    params = body.audit_params()
    assert params["env_keys"] == ["TOKEN"] and "secret" not in repr(params)


@pytest.mark.parametrize(
    "doc",
    [
        {"image": "busybox", "restart_max_retries": 1},
        {"image": "busybox", "cpus": True},
        {"image": "busybox", "ports": [{"container_port": 80, "host_ip": "::g"}]},
        {"image": "busybox", "env": {"": "x"}},
        {"image": "busybox", "cmd": ["a\0b"]},
    ],
)
def test_create_body_refuses(doc: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ContainerCreate.model_validate(doc)


def test_exec_body_defaults() -> None:
    body = ExecIn.model_validate({"cmd": ["ls"]})
    assert (body.timeout, body.env, body.workdir) == (30.0, {}, None)


def test_inspect_answer_from_node_json() -> None:
    summary = ContainerSummary(
        id="a" * 64,
        name="web",
        image="busybox",
        state="running",
        created=1_700_000_000.5,
        ports=(PortBinding(80, "tcp", "127.0.0.1", 8080),),
        labels={"app": "web"},
    )
    doc: dict[str, Any] = {
        "summary": dataclasses.asdict(summary),
        "env": {"PASSWORD": "hunter2"},
        "memory": 1024,
        "nano_cpus": 250_000_000,
        "mounts": [],
        "networks": {"bridge": "172.17.0.2"},
        "raw": {"Id": "a" * 64},
    }
    assert summary_from_json(doc["summary"]) == summary
    shown = details_json("n1", doc, reveal_env=False, raw=False)
    assert shown["node_id"] == "n1" and shown["created"] == "2023-11-14T22:13:20.500000Z"
    assert shown["ports"] == [
        {"private_port": 80, "protocol": "tcp", "host_ip": "127.0.0.1", "host_port": 8080}
    ]
    assert shown["config"]["env"] == {"PASSWORD": "***"} and "raw" not in shown
    assert shown["host_config"]["cpus"] == 0.25
    full = details_json("n1", doc, reveal_env=True, raw=True)
    assert full["config"]["env"] == {"PASSWORD": "hunter2"} and full["raw"] == doc["raw"]

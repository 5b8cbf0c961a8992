"""The node-method contract (``docklord.protocol.methods``) on both ends of a real link session.

The node's ``Operations`` serves the requests of an in-memory link; the coordinator's side
sends the typed arguments and reads the typed answers. Nothing here reaches an engine: each
request is refused, or answered, before the engine would be asked.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from link_helpers import PairFactory

from docklord.engine import Engine
from docklord.errors import InvalidInput, LinkError
from docklord.model import ContainerSpec, MountSpec, PortSpec
from docklord.node import Operations
from docklord.protocol import methods

# Nothing listens here: a request that reached the engine would fail with EngineUnavailable.
NOWHERE = "unix:///nonexistent/docker.sock"


def test_the_node_serves_exactly_the_catalogue() -> None:
    assert Operations(Engine(NOWHERE)).method_names == set(methods.METHODS)
    assert all(name == m.name for name, m in methods.METHODS.items())
    assert Operations(Engine(NOWHERE)).channel_kinds == set(methods.CHANNELS)
    assert all(name == k.name for name, k in methods.CHANNELS.items())


@pytest.mark.parametrize(
    ("kind", "args", "message"),
    [
        ("logs", {"ref": 7}, "ref must be a string"),
        ("logs", {"ref": "web", "tail": -1}, "tail must be at least 0"),
        ("logs", {"ref": "web", "since": "soon"}, "since must be a number"),
        ("stats", {}, "ref is required"),
        ("exec", {"ref": "web", "cmd": []}, "cmd must be a non-empty list of arguments"),
        ("exec", {"ref": "web", "cmd": ["", "-c"]}, "cmd must be a non-empty list of arguments"),
        ("exec", {"ref": "web", "cmd": ["sh"], "rows": 0}, "rows must be at least 1"),
        ("images.pull", {"image": ""}, "image is required"),
        ("logs", ["web"], "stream arguments must be a JSON object"),
    ],
)
async def test_a_bad_channel_argument_is_refused_at_the_node(
    link_pair: PairFactory, kind: str, args: Any, message: str
) -> None:
    # The node decodes a channel's arguments with its kind's type before the handler runs, so
    # nothing here reaches the (absent) engine: the refusal ends the channel with the error.
    pair = await link_pair(dialer={"on_channel": Operations(Engine(NOWHERE)).channel})
    channel = await pair.acceptor.open_channel(kind, args)
    with pytest.raises(InvalidInput, match=message):
        await channel.receive()


def test_typed_channel_arguments_read_back_what_they_send() -> None:
    logs = methods.LogsArgs("web", tail=10, since="now", follow=True)
    assert methods.LOGS.decode_args(logs.to_json()) == logs
    session = methods.ExecSessionArgs("web", ["sh", "-c", "id"], rows=24, cols=80)
    assert methods.EXEC_SESSION.decode_args(session.to_json()) == session
    assert methods.TUNNEL.decode_args(None) == methods.NoArgs()


@pytest.mark.parametrize(
    ("method", "args", "message"),
    [
        ("containers.stop", {"ref": "web", "timeout": "soon"}, "timeout must be an integer"),
        ("containers.stop", {"ref": "web", "timeout": 601}, "timeout must be at most 600"),
        ("containers.kill", {"ref": "web", "signal": "NOPE"}, "invalid signal 'NOPE'"),
        ("containers.start", {"ref": 7}, "ref must be a string"),
        ("containers.remove", {"ref": "web", "force": "yes"}, "force must be true or false"),
        ("containers.stats_once", {}, "ref is required"),
        ("littlewings.command", {"ref": "web", "command": " "}, "a command is 1 to"),
        ("instances.start", {"instance_id": "xyz"}, "instance_id must be 16 lower-case"),
        ("containers.stop", ["web"], "request arguments must be a JSON object"),
        ("no.such.method", {}, "unknown method 'no.such.method'"),
    ],
)
async def test_a_bad_request_is_refused_at_the_node_with_a_422(
    link_pair: PairFactory, method: str, args: Any, message: str
) -> None:
    # A coordinator (or an older one) may send any JSON: the node decodes it with the
    # method's args type, and the refusal crosses the link as the same error class.
    pair = await link_pair(dialer={"on_request": Operations(Engine(NOWHERE)).handle})
    with pytest.raises(InvalidInput, match=message) as refused:
        await pair.acceptor.request(method, args)
    assert refused.value.status == 422 and refused.value.code == "invalid_input"


async def test_typed_calls_are_answered_typed(link_pair: PairFactory) -> None:
    pair = await link_pair(dialer={"on_request": Operations(Engine(NOWHERE)).handle})
    doc = await pair.acceptor.request(methods.PING.name, methods.NoArgs().to_json())
    assert methods.PING.decode_result(doc) == methods.Pong(pong=True)


SAMPLES: list[tuple[methods.NodeMethod[Any, Any], methods.MethodArgs]] = [
    (methods.CONTAINERS_STOP, methods.StopArgs("web", 10)),
    (methods.CONTAINERS_STOP, methods.StopArgs("web")),
    (methods.CONTAINERS_KILL, methods.KillArgs("web", "SIGTERM")),
    (methods.CONTAINERS_REMOVE, methods.RemoveArgs("web", force=True, volumes=True)),
    (methods.CONTAINERS_TOP, methods.TopArgs("web", "aux")),
    (methods.CONTAINERS_EXEC, methods.ExecArgs("web", ["ls", "-l"], {"A": "b"}, "/", "root", 5)),
    (methods.IMAGES_PRUNE, methods.PruneArgs(["a=b"], dangling=False)),
    (methods.VOLUMES_CREATE, methods.VolumeCreateArgs("v", {"k": "v"})),
    (methods.NETWORKS_CREATE, methods.NetworkCreateArgs("n", internal=True)),
    (methods.LITTLEWINGS_COMMAND, methods.CommandArgs("web", "ls", 5.0)),
    (methods.INSTANCES_START, methods.InstanceArgs("0123456789abcdef")),
    (
        methods.CONTAINERS_CREATE,
        methods.CreateArgs(
            ContainerSpec(
                image="busybox",
                name="web",
                cmd=["sleep", "1"],
                env={"A": "b"},
                ports=[PortSpec(80, host_ip="127.0.0.1", host_port=8080)],
                mounts=[MountSpec("data", "/data", type="volume")],
                memory=64 * 1024 * 1024,
            ),
            start=True,
        ),
    ),
]


@pytest.mark.parametrize(("method", "args"), SAMPLES)
def test_arguments_survive_the_wire(
    method: methods.NodeMethod[Any, Any], args: methods.MethodArgs
) -> None:
    assert method.decode_args(args.to_json()) == args


def test_the_create_arguments_are_what_the_node_reads() -> None:
    # ContainerSpec holds a field the request does not carry (open_stdin): it is not sent,
    # and neither are the unset ones (None), so the node's defaults apply.
    args = methods.CreateArgs(ContainerSpec(image="busybox", open_stdin=True))
    assert args.to_json() == {
        "image": "busybox", "env": {}, "ports": [], "mounts": [], "labels": {},
        "restart_policy": "no", "restart_max_retries": 0, "tty": False, "start": False,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("method", "doc", "expected"),
    [
        (methods.CONTAINERS_STOP, {"id": "c1", "name": "web", "state": "exited"},
         methods.ContainerState("c1", "web", "exited")),
        (methods.CONTAINERS_EXEC,
         {"exit_code": 0, "stdout": "ok", "stderr": "", "timed_out": False, "truncated": True},
         methods.ExecOutput(0, "ok", "", False, True)),
        (methods.STREAMS_ACTIVE, {"logs": 1, "exec": 0}, {"logs": 1, "exec": 0}),
        (methods.INSTANCES_LIST,
         {"instances": [{"instance_id": "i", "container_id": "c", "name": "n",
                         "state": "running", "ports": {"ssh": 2000}}],
          "max_instances": 3, "port_base": 2000},
         methods.InstanceList([methods.InstanceInfo("i", "c", "n", "running", {"ssh": 2000})],
                              3, 2000)),
    ],
)  # fmt: skip
def test_results_are_decoded(method: methods.NodeMethod[Any, Any], doc: Any, expected: Any) -> None:
    assert method.decode_result(doc) == expected
    if dataclasses.is_dataclass(expected):
        assert expected.to_json() == doc


@pytest.mark.parametrize(
    ("method", "doc", "message"),
    [
        (methods.CONTAINERS_STOP, {"name": "web"}, "id is required"),
        (methods.CONTAINERS_STOP, ["c1"], "not a JSON object"),
        (methods.STREAMS_ACTIVE, {"logs": "many"}, "every count must be an integer"),
        (methods.INSTANCES_CREATE, {"ports": {"ssh": "22"}}, "ports must map names"),
        (methods.INSTANCES_LIST, {"instances": [1]}, "instances must be a list of objects"),
    ],
)
def test_a_malformed_answer_is_a_link_error(
    method: methods.NodeMethod[Any, Any], doc: Any, message: str
) -> None:
    with pytest.raises(LinkError, match=f"the node answered {method.name} malformed: .*{message}"):
        method.decode_result(doc)

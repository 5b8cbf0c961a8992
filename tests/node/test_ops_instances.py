"""Pure logic of the node's instances: argument checks, settings, port blocks, answers."""

from __future__ import annotations

import random
import socket
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from docklord.config import NodeConfig
from docklord.engine import Engine
from docklord.errors import ConfigError, Conflict, InvalidInput
from docklord.model import INSTANCE_LABEL, OWNER_LABEL, PORTS_LABEL, ContainerSummary
from docklord.node import InstanceSettings, NodeAgent, Operations
from docklord.node._ops_instances import (
    free_block,
    instance_id,
    instance_json,
    owner,
    port_is_free,
    reserved_ports,
    ssh_public_key,
)

# Nothing listens here: a check that reached the engine would fail with EngineUnavailable.
NOWHERE = "unix:///nonexistent/docker.sock"
HOST = "127.0.0.1"


def _openssh(key: Any) -> str:
    return str(key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode())


ED25519 = _openssh(ed25519.Ed25519PrivateKey.generate())


@pytest.fixture
def free_range() -> int:
    """The first of 20 ports on 127.0.0.1 nothing listens on, below the ephemeral range."""
    for _ in range(200):
        base = random.randrange(20000, 32000, 50)
        if all(port_is_free(HOST, port) for port in range(base, base + 20)):
            return base
    raise AssertionError("no 20 free ports between 20000 and 32000 on 127.0.0.1")


def _summary(name: str, labels: dict[str, str]) -> ContainerSummary:
    return ContainerSummary(id=f"id-{name}", name=name, image="x", state="running", labels=labels)


def test_the_node_serves_the_instance_methods() -> None:
    ops = Operations(Engine(NOWHERE))
    verbs = {"create", "start", "stop", "delete", "list"}
    assert {f"instances.{v}" for v in verbs} <= ops.method_names
    assert ops.instances == InstanceSettings()
    settings = InstanceSettings(port_base=40000, host_ip=HOST, max_instances=3)
    assert Operations(Engine(NOWHERE), instances=settings).instances is settings


def test_the_agent_passes_the_node_settings_on() -> None:
    config = NodeConfig(
        instance_image="example/box:2",
        instance_port_base=40000,
        instance_host_ip="::1",
        max_instances=7,
    )
    agent = NodeAgent(config, engine=Engine(NOWHERE))
    assert agent.operations.instances == InstanceSettings("example/box:2", 40000, "::1", 7)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"image": ""}, "image"),
        ({"port_base": 0}, "between 1 and 65533"),
        ({"port_base": 65534}, "between 1 and 65533"),
        ({"host_ip": "example.org"}, "not an IP"),
        ({"max_instances": -1}, "negative"),
    ],
)
def test_settings_are_checked(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        InstanceSettings(**fields)


def test_instance_ids_and_owners() -> None:
    assert instance_id({"instance_id": "0123456789abcdef"}) == "0123456789abcdef"
    for bad in (None, 7, "", "0123456789ABCDEF", "0123456789abcde", "0123456789abcdef0", "../x"):
        with pytest.raises(InvalidInput, match="instance_id"):
            instance_id({"instance_id": bad})
    assert owner({"owner": "Alice Émile"}) == "Alice Émile"
    for bad in (None, "", "a\nb", "x" * 129, ["alice"]):
        with pytest.raises(InvalidInput, match="owner"):
            owner({"owner": bad})


def test_public_keys_of_every_usual_type_are_kept_on_one_line() -> None:
    rsa_key = _openssh(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    ecdsa_key = _openssh(ec.generate_private_key(ec.SECP256R1()))
    for key in (ED25519, rsa_key, ecdsa_key):
        assert ssh_public_key({"ssh_public_key": key}) == key
    with_comment = f"{ED25519} alice@laptop"
    assert ssh_public_key({"ssh_public_key": f"\n  {with_comment}\r\n"}) == with_comment


@pytest.mark.parametrize(
    "key",
    [
        None,
        "",
        "not a key",
        "ssh-ed25519 AAAA",
        f"{ED25519}\n{ED25519}",
        f"{ED25519} x\nssh-rsa AAAA",
        f'command="/bin/sh" {ED25519}',
        f"{ED25519} tab\there",
        f"{ED25519} " + "x" * 16 * 1024,
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----",
    ],
    # Named, not shown: the keys are made at import, and test ids must not change between runs.
    ids=[
        "none",
        "empty",
        "words",
        "short",
        "two-keys",
        "key-then-junk-line",
        "with-options",
        "tab-in-comment",
        "16-kib-comment",
        "pem",
    ],
)
def test_malformed_keys_are_invalid_input(key: object) -> None:
    with pytest.raises(InvalidInput, match="ssh_public_key"):
        ssh_public_key({"ssh_public_key": key})


async def test_bad_arguments_are_refused_before_the_engine() -> None:
    ops = Operations(Engine(NOWHERE))
    good = {"instance_id": "0123456789abcdef", "owner": "alice", "ssh_public_key": ED25519}
    for change in ({"instance_id": "x"}, {"owner": ""}, {"ssh_public_key": "nope"}):
        with pytest.raises(InvalidInput):
            await ops.handle("instances.create", {**good, **change})
    for method in ("instances.start", "instances.stop", "instances.delete"):
        with pytest.raises(InvalidInput, match="instance_id"):
            await ops.handle(method, {})


def test_blocks_are_the_lowest_three_free_consecutive_ports(free_range: int) -> None:
    base = free_range
    assert free_block(base, set(), HOST) == base
    assert free_block(base, {base, base + 4}, HOST) == base + 1
    assert free_block(base, {base + 1, base + 6}, HOST) == base + 2
    assert free_block(base, set(range(base, base + 9)), HOST) == base + 9
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.bind((HOST, base + 2))
        held.listen()
        assert not port_is_free(HOST, base + 2)
        assert free_block(base, set(), HOST) == base + 3
        assert free_block(base, {base + 4}, HOST) == base + 5
    assert port_is_free(HOST, base + 2)
    assert free_block(65533, set(), HOST) == 65533
    with pytest.raises(Conflict, match="no 3 consecutive free ports at or above 65532"):
        free_block(65532, {65534}, HOST)


def test_reserved_ports_and_answers_come_from_the_labels() -> None:
    first = _summary("a", {INSTANCE_LABEL: "a" * 16, OWNER_LABEL: "al", PORTS_LABEL: "2000"})
    second = _summary("b", {INSTANCE_LABEL: "b" * 16, PORTS_LABEL: "2010"})
    broken = _summary("c", {INSTANCE_LABEL: "c" * 16, PORTS_LABEL: "soon"})
    assert reserved_ports([first, second, broken]) == {2000, 2001, 2002, 2010, 2011, 2012}
    assert instance_json(first) == {
        "instance_id": "a" * 16,
        "container_id": "id-a",
        "name": "a",
        "state": "running",
        "ports": {"ssh": 2000, "http": 2001, "https": 2002},
    }
    assert instance_json(broken)["ports"] == {}

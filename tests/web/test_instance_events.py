"""The events socket's view of an instance's container: its owner hears of its state changes as
``instance`` messages (the instances page shows them live), nobody else but an admin hears of it
at all, and no container view ever gets it as a container."""

from __future__ import annotations

from typing import Any

from docklord.model import INSTANCE_LABEL, OWNER_LABEL, PORTS_LABEL
from docklord.web._auth import Principal, Role
from docklord.web._container_policy import visible_message

LABELS = {INSTANCE_LABEL: "5f0c2a9d41b7e3c8", OWNER_LABEL: "alice", PORTS_LABEL: "1024"}
NAME = "docklord-instance-5f0c2a9d41b7e3c8"


def user(name: str, role: Role = Role.VIEWER, **kw: Any) -> Principal:
    return Principal(actor=f"user:{name}", username=name, user_id=7, role=role, **kw)


def event(action: str, state: str | None) -> dict[str, Any]:
    container = None if state is None else {"id": "c" * 64, "name": NAME, "state": state,
                                            "labels": LABELS}  # fmt: skip
    return {
        "kind": "event",
        "seq": 12,
        "node_id": "web-1",
        "type": "container",
        "action": action,
        "actor_id": "c" * 64,
        "time": "2026-12-02T03:00:00Z",
        "attributes": {**LABELS, "name": NAME, "image": "docklord/instance:latest"},
        "removed": state is None,
        "container": container,
    }


def test_the_owner_hears_the_state_of_their_instance_container() -> None:
    heard = visible_message(user("alice"), event("die", "exited"))
    assert heard == {
        "kind": "instance",
        "node_id": "web-1",
        "instance_id": "5f0c2a9d41b7e3c8",
        "container_id": "c" * 64,
        "action": "die",
        "state": "exited",
        "removed": False,
        "time": "2026-12-02T03:00:00Z",
    }


def test_the_owner_hears_that_the_container_is_gone() -> None:
    heard = visible_message(user("alice", Role.OPERATOR), event("destroy", None))
    assert heard is not None
    assert (heard["kind"], heard["removed"], heard["state"]) == ("instance", True, None)


def test_nobody_else_hears_of_it_and_node_credentials_neither() -> None:
    assert visible_message(user("bob", Role.OPERATOR), event("die", "exited")) is None
    node = Principal(actor="node:web-1", username="alice", user_id=0, role=Role.VIEWER,
                     node_id="web-1")  # fmt: skip
    assert visible_message(node, event("die", "exited")) is None


def test_an_admin_gets_the_container_event_itself() -> None:
    message = event("start", "running")
    assert visible_message(user("root", Role.ADMIN), message) is message


def test_a_container_named_like_an_instance_without_the_label_is_still_hidden() -> None:
    message = event("start", "running")
    message["attributes"] = {"name": NAME}
    message["container"] = {**message["container"], "labels": {}}
    assert visible_message(user("alice"), message) is None

"""A node that enrolls with an invitation's token takes the invitation's name and labels into
the fleet view at once (the UI's "Add node" with an enrolment token sets them)."""

from __future__ import annotations

from datetime import timedelta

from docklord import __version__
from docklord.coordinator import NodeState
from docklord.protocol import PROTOCOL_VERSION, Envelope, Hello
from docklord.testing import eventually

from .conftest import Hub


async def test_an_enrolled_node_is_listed_with_its_invitations_name_and_labels(
    enroll_hub: Hub,
) -> None:
    node_id, _, token = await enroll_hub.auth.invite(
        ttl=timedelta(hours=1), name="web-1", labels={"zone": "a"}
    )
    transport = await enroll_hub.connect()
    hello = Hello(enroll_token=token, agent_version=__version__, protocol_version=PROTOCOL_VERSION)
    await transport.send(Envelope(hello=hello))
    welcome = (await transport.receive()).welcome
    assert welcome.assigned_node_id == node_id

    async def attached() -> NodeState | None:
        state = enroll_hub.fleet.nodes.get(node_id)
        return state if state is not None and state.session is not None else None

    state = await eventually(attached, what="the enrolled node attached")
    assert (state.name, state.labels) == ("web-1", {"zone": "a"})
    assert (await enroll_hub.store.get_node(node_id)).name == "web-1"
    await transport.close()

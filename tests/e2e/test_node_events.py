"""A real node process over a real engine survives events it cannot take in its stride."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import docker as docker_sdk
import pytest

from docklord.protocol import MAX_MAP_VALUE
from docklord.testing import TEST_LABEL, TEST_RUN, CoordinatorProcess, unique_name

from .conftest import NodeFactory, api, wait_online

pytestmark = pytest.mark.e2e

#: Longer than aiohttp's 512 KiB line limit, which ended the node's event stream (issue 9).
HUGE = 600_000


@pytest.fixture
def engine_client(docker_host: str) -> Iterator[docker_sdk.DockerClient]:
    """docker-py straight on the engine: the docker CLI cannot pass a 600 kB argument."""
    client = docker_sdk.DockerClient(base_url=docker_host, timeout=60)
    yield client
    for container in client.containers.list(
        all=True, filters={"label": f"{TEST_LABEL}={TEST_RUN}"}
    ):
        if container.name.startswith("dl-huge-"):
            container.remove(force=True)
    client.close()


def _is(action: str, name: str) -> Callable[[dict[str, Any]], bool]:
    def match(message: dict[str, Any]) -> bool:
        container = message.get("container") or {}
        return bool(
            message["kind"] == "event"
            and message["action"] == action
            and container.get("name") == name
        )

    return match


async def test_the_node_survives_events_longer_than_512_kib(
    coordinator: CoordinatorProcess,
    start_node: NodeFactory,
    labelled_container: Callable[..., str],
    engine_client: docker_sdk.DockerClient,
    busybox_image: str,
    open_events: Callable[..., Any],
) -> None:
    node = start_node([coordinator.ws_url])
    token = coordinator.login()
    async with api(coordinator, token) as client:
        await wait_online(client, node.node_id)
    stream = await open_events(coordinator, token)
    await stream.next()  # the snapshot

    huge = engine_client.containers.create(
        busybox_image,
        ["sleep", "60"],
        name=unique_name("dl-huge"),
        labels={TEST_LABEL: TEST_RUN, "docklord.test.huge": "x" * HUGE},
    )
    created = await stream.until(_is("create", huge.name), wait=20)
    # The event got through; the label value is then held to the link's limit for node strings.
    assert created["container"]["labels"]["docklord.test.huge"] == "x" * MAX_MAP_VALUE
    huge.start()
    await stream.until(_is("start", huge.name), wait=20)
    # An exec's whole command line is in its exec_create event.
    engine_client.api.exec_create(huge.id, ["true", "y" * HUGE])
    after_exec = labelled_container("true", start=False)
    await stream.until(_is("create", after_exec), wait=20)

    huge.remove(force=True)
    destroyed = await stream.until(
        lambda m: m["kind"] == "event" and m["action"] == "destroy" and m["actor_id"] == huge.id,
        wait=20,
    )
    assert destroyed["removed"] is True
    after_destroy = labelled_container("true", start=False)
    await stream.until(_is("create", after_destroy), wait=20)

    assert node.proc is not None and node.proc.poll() is None, node.log()[-3000:]
    async with api(coordinator, token) as client:
        await wait_online(client, node.node_id)
        for name, count in ((after_exec, 1), (after_destroy, 1), (huge.name, 0)):
            rows = (await client.get("/api/v1/containers", params={"q": name})).json()
            assert rows["count"] == count, (name, rows)

"""Containers: create from a spec, inspect, summaries, lifecycle, top, error mapping."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from docklord.engine import Engine
from docklord.errors import Conflict, InvalidInput, NotFound
from docklord.model import ContainerSpec, ContainerState, MountSpec, PortBinding, PortSpec
from docklord.testing import TEST_LABEL, TEST_RUN, eventually, unique_name

from ._support import IDLE, MakeContainer


async def _state(engine: Engine, ref: str) -> str:
    return (await engine.get_summary(ref)).state


async def test_create_applies_every_field_of_the_spec(
    engine: Engine, make_container: MakeContainer, tmp_path: Path
) -> None:
    (tmp_path / "hello.txt").write_text("from the host\n")
    volume = unique_name("vol")
    await engine.create_volume(volume, labels={TEST_LABEL: TEST_RUN})
    name = unique_name("spec")
    ref = await make_container(
        ["-c", "cat /host/hello.txt; sleep 3600"],
        name=name,
        entrypoint=["sh"],
        env={"GREETING": "hi there", "EMPTY": ""},
        ports=[PortSpec(80, host_ip="127.0.0.1"), PortSpec(53, "udp", "127.0.0.1")],
        mounts=[
            MountSpec(str(tmp_path), "/host", read_only=True),
            MountSpec(volume, "/data", type="volume"),
        ],
        labels={"docklord.test.role": "spec"},
        restart_policy="on-failure",
        restart_max_retries=2,
        cpus=0.5,
        memory=64 * 1024 * 1024,
        working_dir="/tmp",
        user="0:0",
        hostname="specbox",
    )
    details = await engine.inspect_container(name)
    summary = details.summary
    assert (summary.id, summary.name, summary.state) == (ref, name, ContainerState.RUNNING)
    assert summary.labels[TEST_LABEL] == TEST_RUN and summary.labels["docklord.test.role"] == "spec"
    assert (details.entrypoint, details.cmd) == (("sh",), ("-c", "cat /host/hello.txt; sleep 3600"))
    assert details.env["GREETING"] == "hi there" and details.env["EMPTY"] == ""
    assert (details.working_dir, details.user, details.hostname) == ("/tmp", "0:0", "specbox")
    assert (details.restart_policy, details.restart_max_retries) == ("on-failure", 2)
    assert (details.memory, details.nano_cpus) == (64 * 1024 * 1024, 500_000_000)
    assert not details.tty and not details.open_stdin
    mounts = {m.target: m for m in details.mounts}
    assert mounts["/host"].type == "bind" and mounts["/host"].read_only
    assert mounts["/data"].type == "volume" and mounts["/data"].name == volume
    assert set(details.networks) == {"bridge"} and details.networks["bridge"]
    assert details.pid is not None and details.pid > 0
    assert details.raw["Id"] == ref
    published = {(p.private_port, p.protocol): p for p in summary.ports}
    assert published[(80, "tcp")].host_ip == "127.0.0.1"
    assert published[(80, "tcp")].host_port is not None
    assert published[(53, "udp")].host_port is not None

    async def logged() -> bool:
        return b"".join([c.data async for c in engine.logs(ref)]) == b"from the host\n"

    await eventually(logged, what="the bind-mounted file in the logs")
    await engine.remove(ref, force=True)
    await engine.remove_volume(volume)


async def test_summary_through_the_lifecycle(engine: Engine, make_container: MakeContainer) -> None:
    ref = await make_container(["sh", "-c", "read line; exit 3"], start=False, open_stdin=True)
    created = await engine.get_summary(ref)
    assert created.state == "created" and created.status == "Created"
    assert (created.started_at, created.finished_at, created.exit_code) == (None, None, None)
    assert created.created == pytest.approx(time.time(), abs=60)
    assert created.command == "sh -c read line; exit 3"

    await engine.start(ref)
    running = await engine.get_summary(ref)
    assert running.state == "running" and running.status.startswith("Up ")
    assert running.started_at is not None and running.exit_code is None

    await engine.pause(ref)
    assert (await engine.get_summary(ref)).status.endswith("(Paused)")
    await engine.unpause(ref)
    await engine.kill(ref, signal="SIGKILL")
    await eventually(lambda: _is(engine, ref, "exited"), what="the container to exit")
    exited = await engine.get_summary(ref)
    assert exited.exit_code == 137 and exited.finished_at is not None
    assert exited.status.startswith("Exited (137) ")
    [listed] = await engine.list_containers(filters={"id": [ref]})
    assert (listed.id, listed.name, listed.state, listed.exit_code) == (
        ref,
        exited.name,
        "exited",
        137,
    )


async def test_stop_restart_and_remove(engine: Engine, make_container: MakeContainer) -> None:
    ref = await make_container()
    first_start = (await engine.get_summary(ref)).started_at
    await engine.restart(ref, timeout=5)
    again = await engine.get_summary(ref)
    assert again.state == "running" and again.started_at != first_start
    await engine.stop(ref, timeout=5)
    stopped = await engine.get_summary(ref)
    assert stopped.state == "exited" and stopped.exit_code == 0
    await engine.start(ref)
    with pytest.raises(Conflict):
        await engine.remove(ref)
    await engine.remove(ref, force=True)
    with pytest.raises(NotFound):
        await engine.get_summary(ref)


async def test_list_filters_and_all(engine: Engine, make_container: MakeContainer) -> None:
    marker = unique_name("mark")
    running = await make_container(labels={"docklord.test.mark": marker})
    created = await make_container(start=False, labels={"docklord.test.mark": marker})
    label = {"label": [f"docklord.test.mark={marker}"]}
    everything = {c.id: c for c in await engine.list_containers(filters=label)}
    assert set(everything) == {running, created}
    assert everything[running].labels[TEST_LABEL] == TEST_RUN
    only_running = await engine.list_containers(all=False, filters=label)
    assert [c.id for c in only_running] == [running]


async def test_top_lists_the_processes(engine: Engine, make_container: MakeContainer) -> None:
    ref = await make_container()
    processes = await engine.top(ref)
    assert "PID" in processes.titles
    commands = [row[processes.titles.index("CMD")] for row in processes.processes]
    assert any("sleep 3600" in c for c in commands)
    custom = await engine.top(ref, ps_args="-o pid,comm")
    assert custom.titles == ("PID", "COMMAND")


async def test_unknown_container_is_not_found(engine: Engine) -> None:
    missing = unique_name("missing")
    with pytest.raises(NotFound, match=f"^no such container: {missing}$"):
        await engine.get_summary(missing)
    for call in (engine.inspect_container, engine.start, engine.stop, engine.remove, engine.top):
        with pytest.raises(NotFound, match=missing):
            await call(missing)
    with pytest.raises(NotFound):
        await engine.kill(missing)


async def test_duplicate_name_is_a_conflict(engine: Engine, make_container: MakeContainer) -> None:
    name = unique_name("dup")
    await make_container(name=name, start=False)
    with pytest.raises(Conflict, match="already in use"):
        await make_container(name=name, start=False)


async def test_missing_image_is_not_found(engine: Engine) -> None:
    spec = ContainerSpec("docklord-test/nope:missing", labels={TEST_LABEL: TEST_RUN})
    with pytest.raises(NotFound, match="^image docklord-test/nope:missing not found$"):
        await engine.create_container(spec)


async def test_state_conflicts_and_bad_input(engine: Engine, make_container: MakeContainer) -> None:
    ref = await make_container(start=False)
    with pytest.raises(Conflict, match="is not running"):
        await engine.kill(ref)
    with pytest.raises(Conflict):
        await engine.pause(ref)
    with pytest.raises(InvalidInput):
        await engine.get_summary("../../images/json")
    with pytest.raises(InvalidInput):
        await make_container(start=False, name="bad name!")
    lost_network = await make_container(start=False, network=unique_name("gone"))
    with pytest.raises(NotFound, match="^network dl-gone-.* not found"):
        await engine.start(lost_network)


def test_spec_validation() -> None:
    image = "docklord-test/busybox:latest"
    for bad in (
        {"restart_policy": "sometimes"},
        {"restart_max_retries": 2},
        {"cpus": 0},
        {"memory": -1},
        {"cmd": "sh -c x"},
        {"env": {"A=B": "x"}},
    ):
        with pytest.raises(InvalidInput):
            ContainerSpec(image, **bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        PortSpec(70000)
    with pytest.raises(InvalidInput):
        PortSpec(80, "icmp")
    with pytest.raises(InvalidInput):
        MountSpec("/x", "relative")
    with pytest.raises(InvalidInput):
        MountSpec("/x", "/y", type="tmpfs")  # type: ignore[arg-type]
    cmd = ["sleep", "1"]
    spec = ContainerSpec(image, cmd=cmd, ports=[PortSpec(80)])
    cmd.append("mutated")
    assert spec.cmd == ("sleep", "1") and spec.ports == (PortSpec(80),)
    assert PortBinding(80).host_port is None


async def test_idle_command_stops_at_once(engine: Engine, make_container: MakeContainer) -> None:
    ref = await make_container(IDLE)
    started = time.monotonic()
    await engine.stop(ref)
    assert time.monotonic() - started < 5


async def _is(engine: Engine, ref: str, state: str) -> bool:
    return await _state(engine, ref) == state

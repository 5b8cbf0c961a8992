"""Connecting: address handling, version negotiation, unreachable engines, raw sockets."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from docklord.engine import MAX_API_VERSION, Engine
from docklord.engine._client import check_ref, negotiate_api_version
from docklord.engine._errors import error_for_status
from docklord.errors import (
    ConfigError,
    Conflict,
    EngineError,
    EngineUnavailable,
    InvalidInput,
    NotFound,
)
from docklord.testing import free_port


async def test_connect_negotiates_and_describes_the_engine(docker_host: str) -> None:
    engine = Engine(docker_host)
    assert engine.address == docker_host
    assert engine.api_version == ""
    try:
        info = await engine.connect()
        assert engine.api_version == info.api_version
        assert info.api_version == min(info.api_version, MAX_API_VERSION, key=_ver)
        assert info.version and info.os == "linux" and info.arch
        assert info.images >= 1
        # The same engine described again; its counts may move meanwhile (the other worker).
        again = await engine.info()
        assert dataclasses.replace(again, containers=0, images=0) == dataclasses.replace(
            info, containers=0, images=0
        )
        await engine.ping()
    finally:
        await engine.aclose()
        await engine.aclose()  # idempotent


async def test_unreachable_unix_socket_names_the_address() -> None:
    engine = Engine("unix:///nonexistent.sock")
    with pytest.raises(EngineUnavailable) as caught:
        await engine.connect()
    message = str(caught.value)
    assert message.startswith("cannot reach the Docker Engine at unix:///nonexistent.sock: ")
    assert "No such file or directory" in message
    with pytest.raises(EngineUnavailable, match="nonexistent.sock"):
        async with Engine("unix:///nonexistent.sock"):
            pass
    with pytest.raises(EngineUnavailable, match="nonexistent.sock"):
        await engine.open_raw()
    await engine.aclose()


async def test_unreachable_tcp_port_names_the_address() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    engine = Engine(address, timeout=5)
    with pytest.raises(EngineUnavailable, match=f"at {address}: .*refused"):
        await engine.list_containers()
    await engine.aclose()


async def test_tcp_address_works(docker_host: str) -> None:
    # No engine listens on TCP here: forward a loopback port to the engine's unix socket.
    socket_path = docker_host.removeprefix("unix://")

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(socket_path)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(forward, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with Engine(f"tcp://127.0.0.1:{port}") as engine:
            assert (await engine.info()).version
            assert isinstance(await engine.list_images(), list)
            reader, writer = await engine.open_raw()
            writer.write(b"GET /_ping HTTP/1.0\r\n\r\n")
            assert (await reader.read()).endswith(b"OK")
            writer.close()
            await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()


def test_unsupported_address_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="ftp://x"):
        Engine("ftp://x")
    with pytest.raises(ConfigError):
        Engine("tcp://no-port")


def test_environment_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///from/env.sock")
    assert Engine().address == "unix:///from/env.sock"
    monkeypatch.delenv("DOCKER_HOST")
    assert Engine().address == "unix:///var/run/docker.sock"
    assert Engine("tcp://10.0.0.1:2375").address == "tcp://10.0.0.1:2375"


async def test_calls_connect_lazily_and_refuse_after_close(docker_host: str) -> None:
    engine = Engine(docker_host)
    assert isinstance(await engine.list_containers(), list)
    assert engine.api_version
    await engine.aclose()
    with pytest.raises(EngineUnavailable, match="closed"):
        await engine.list_containers()
    await engine.connect()  # reopens
    await engine.ping()
    await engine.aclose()


async def test_open_raw_speaks_http_to_the_engine(engine: Engine) -> None:
    reader, writer = await engine.open_raw()
    try:
        writer.write(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    assert answer.startswith(b"HTTP/1.0 200 OK")
    assert answer.endswith(b"\r\n\r\nOK")


def test_version_negotiation() -> None:
    assert negotiate_api_version("1.41", "1.12") == "1.41"
    assert negotiate_api_version("1.99", "1.24") == MAX_API_VERSION
    assert negotiate_api_version("1.100", "1.24") == MAX_API_VERSION
    with pytest.raises(EngineError, match="needs 1.41"):
        negotiate_api_version("1.40", "1.12")
    with pytest.raises(EngineError, match="requires API 1.99"):
        negotiate_api_version("1.120", "1.99")


def test_references_cannot_escape_their_url_path() -> None:
    assert check_ref("container", "abc_1.x-y") == "abc_1.x-y"
    assert check_ref("image", "127.0.0.1:5000/a/b:1@sha256:00") == "127.0.0.1:5000/a/b:1@sha256:00"
    for bad in ("", "../images", "a/b", "a?x=1", "a#b", "-x"):
        with pytest.raises(InvalidInput):
            check_ref("container", bad)
    for bad in ("a/../b", "a//b", "./a", "a b"):
        with pytest.raises(InvalidInput):
            check_ref("image", bad)


def _ver(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def test_engine_statuses_map_onto_the_error_tree() -> None:
    missing = error_for_status(404, "No such container: abc", kind="container", ref="abc")
    assert type(missing) is NotFound and missing.message == "no such container: abc"
    other = error_for_status(404, "network n1 not found", kind="container", ref="abc")
    assert type(other) is NotFound and other.message == "network n1 not found"
    assert type(error_for_status(409, "name in use")) is Conflict
    assert type(error_for_status(400, "bad parameter")) is InvalidInput
    failed = error_for_status(500, "driver failed\n")
    assert type(failed) is EngineError and failed.message == "driver failed"
    assert failed.details == {"status": 500}
    assert error_for_status(503, "").message == "the engine answered HTTP 503"

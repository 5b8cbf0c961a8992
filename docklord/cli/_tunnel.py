"""``docklord tunnel``: a node's Docker Engine API on a local socket, through the coordinator.

Every connection accepted on the local socket opens its own WebSocket to
``/api/v1/nodes/{node}/docker/ws`` (admin only) and the bytes are copied both ways, with
half-closes passed on as ``{"type": "eof"}`` text frames, so the unmodified ``docker`` CLI and
SDKs work through it, hijacked calls (``run``, ``exec``, ``attach``) included::

    docklord tunnel NODE --coordinator http://HOST:3000 --token TOKEN --listen 127.0.0.1:2375
    export DOCKER_HOST=tcp://127.0.0.1:2375
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import signal
import stat
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

import typer
import websockets
from websockets.asyncio.client import ClientConnection

from docklord.cli._main import _run, app
from docklord.errors import ConfigError, NotFound, Unauthenticated

__all__ = ["tunnel"]

_READ_SIZE = 64 * 1024
#: How long the output behind a hijacked response's head waits (see :class:`HijackHead`).
HIJACK_HOLD = 0.1
_EOF = json.dumps({"type": "eof"})

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@app.command()
def tunnel(
    node: Annotated[str, typer.Argument(help="The node whose engine to reach.")],
    coordinator: Annotated[
        str, typer.Option(help="The coordinator's URL (http://HOST:PORT or https://...).")
    ],
    token: Annotated[
        str | None, typer.Option(help="An admin's API token.", envvar="DOCKLORD_TOKEN")
    ] = None,
    listen: Annotated[
        str, typer.Option(help="HOST:PORT (loopback) or unix:///path/to.sock to listen on.")
    ] = "127.0.0.1:2375",
    allow_remote: Annotated[
        bool,
        typer.Option(help="Allow a non-loopback listen address (anyone reaching it is admin)."),
    ] = False,
) -> None:
    """Serve a node's Docker Engine API on a local socket, through the coordinator."""
    if not token:
        raise typer.BadParameter("give --token or set DOCKLORD_TOKEN", param_hint="--token")
    url = _tunnel_url(coordinator, node)
    where = _listen_address(listen, allow_remote)
    if isinstance(where, str):
        _clear_socket_path(where)
    try:
        _run(_serve(url, coordinator, node, token, where))
    finally:
        if isinstance(where, str):
            with contextlib.suppress(FileNotFoundError):
                Path(where).unlink()


def _clear_socket_path(path: str) -> None:
    """Remove a stale socket file (never anything else) so that we can listen there."""
    target = Path(path)
    if target.exists() and not stat.S_ISSOCK(target.stat().st_mode):
        raise typer.BadParameter(f"{path} exists and is not a socket", param_hint="--listen")
    with contextlib.suppress(FileNotFoundError):
        target.unlink()


def _tunnel_url(coordinator: str, node: str) -> str:
    parts = urllib.parse.urlsplit(coordinator)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise typer.BadParameter(
            "use http://HOST:PORT or https://HOST:PORT", param_hint="--coordinator"
        )
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = f"{parts.path.rstrip('/')}/api/v1/nodes/{urllib.parse.quote(node, safe='')}/docker/ws"
    return urllib.parse.urlunsplit((scheme, parts.netloc, path, "", ""))


def _listen_address(listen: str, allow_remote: bool) -> tuple[str, int] | str:
    if listen.startswith("unix://"):
        path = listen.removeprefix("unix://")
        if not path.startswith("/"):
            raise typer.BadParameter("use unix:///absolute/path.sock", param_hint="--listen")
        return path
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise typer.BadParameter("use HOST:PORT or unix:///path.sock", param_hint="--listen")
    if not allow_remote and not _is_loopback(host):
        raise typer.BadParameter(
            f"{host} is not a loopback address; anyone reaching it would act as admin on the "
            "node (pass --allow-remote if you mean it)",
            param_hint="--listen",
        )
    return host, int(port)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _serve(
    url: str, coordinator: str, node: str, token: str, where: tuple[str, int] | str
) -> None:
    await asyncio.to_thread(_check_access, coordinator, node, token)
    headers = {"Authorization": f"Bearer {token}"}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _pipe(url, headers, reader, writer)

    if isinstance(where, str):
        server = await _unix_server(handle, where)
        announce = f"unix://{where}"
    else:
        server = await asyncio.start_server(handle, where[0], where[1], limit=_READ_SIZE)
        host, port = server.sockets[0].getsockname()[:2]
        announce = f"tcp://{f'[{host}]' if ':' in host else host}:{port}"
    print(f"export DOCKER_HOST={announce}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


async def _unix_server(handle: Handler, path: str) -> asyncio.Server:
    # Only this user may connect: the socket gives the node's engine to whoever reaches it.
    old = os.umask(0o177)
    try:
        return await asyncio.start_unix_server(handle, path, limit=_READ_SIZE)
    finally:
        os.umask(old)


def _check_access(coordinator: str, node: str, token: str) -> None:
    """Fail fast on a wrong token or node, before the first docker command does."""
    url = f"{coordinator.rstrip('/')}/api/v1/nodes/{urllib.parse.quote(node, safe='')}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310 - scheme checked
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            status = json.loads(response.read()).get("status")
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise Unauthenticated("the coordinator refused the token") from exc
        if exc.code == 404:
            raise NotFound(f"the coordinator knows no node {node}") from exc
        raise ConfigError(f"the coordinator answered {exc.code} for node {node}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot reach the coordinator at {coordinator}: {exc}") from exc
    if status != "online":
        print(
            f"docklord: node {node} is {status}; connections fail until it is back", file=sys.stderr
        )


async def _pipe(
    url: str,
    headers: dict[str, str],
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    """Copy one local connection to its own tunnel WebSocket and back."""
    try:
        async with websockets.connect(
            url, additional_headers=headers, max_size=None, compression=None, ping_interval=None
        ) as ws:
            await _copy_both_ways(ws, reader, writer)
    except (OSError, websockets.WebSocketException) as exc:
        print(f"docklord: tunnel connection ended: {exc}", file=sys.stderr, flush=True)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _copy_both_ways(
    ws: ClientConnection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Until the coordinator ends the tunnel; a failure either way ends it at once."""
    up = asyncio.create_task(_upstream(reader, ws))
    down = asyncio.create_task(_downstream(ws, writer))
    pending = {up, down}
    try:
        while down in pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
    finally:
        for task in (up, down):
            task.cancel()
        await asyncio.gather(up, down, return_exceptions=True)


async def _upstream(reader: asyncio.StreamReader, ws: ClientConnection) -> None:
    """Local client to coordinator; its half-close becomes an ``eof`` frame."""
    while data := await reader.read(_READ_SIZE):
        await ws.send(data)
    await ws.send(_EOF)


async def _downstream(ws: ClientConnection, writer: asyncio.StreamWriter) -> None:
    """Coordinator to local client, until the coordinator closes the tunnel."""
    head = HijackHead()
    async for message in ws:
        if isinstance(message, bytes):
            end = head.feed(message)
            if end is not None:
                await _write(writer, message[:end])
                await asyncio.sleep(HIJACK_HOLD)
                message = message[end:]
            await _write(writer, message)
        elif json.loads(message).get("type") == "eof" and writer.can_write_eof():
            writer.write_eof()


async def _write(writer: asyncio.StreamWriter, data: bytes) -> None:
    if data:
        writer.write(data)
        await writer.drain()


class HijackHead:
    """Finds the end of a hijacked response's head (``HTTP/1.1 101 UPGRADED ...``).

    docker-py reads the head of an ``attach`` or ``exec`` answer through a buffered file, then
    reads the raw socket: output that reached it together with the head sits in that buffer
    and is lost (docker/docker-py#425, #1770). The engine writes its head before any output,
    so docker-py wins that race on a local socket. Through the tunnel both usually arrive in
    one piece, so the tunnel writes the head alone and holds the output for
    :data:`HIJACK_HOLD` seconds. This costs one hold per hijacked call. A hijacked response is
    the last one on its connection, so the search stops after it.
    """

    _STATUS = (b"HTTP/1.1 101 ", b"HTTP/1.0 101 ")

    def __init__(self) -> None:
        self._window = b""  # the tail of what was sent, or a head begun but not complete
        self._done = False

    def feed(self, data: bytes) -> int | None:
        """Where in ``data`` a hijacked response's head ends, if it ends in ``data``."""
        if self._done:
            return None
        window = self._window + data
        start = min((i for i in map(window.find, self._STATUS) if i >= 0), default=-1)
        if start < 0:
            self._window = window[-16:]
            return None
        end = window.find(b"\r\n\r\n", start)
        if end < 0:
            self._window = window[start:][-_READ_SIZE:]
            return None
        self._done, self._window = True, b""
        return max(end + 4 - (len(window) - len(data)), 0)

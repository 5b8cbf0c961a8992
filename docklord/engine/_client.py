"""The connection to one Docker Engine: address, API version negotiation, requests.

aiodocker carries every request. Where its high-level API returns what we need, the noun
modules use it; for streams (logs, stats, events, pull) they use aiodocker's request layer
(``Docker._query``) and parse the bytes here, because aiodocker's stream helpers drop the
stdout/stderr distinction and end silently when the engine goes away, which would turn an
engine crash into a clean end of stream. The only raw socket use is :meth:`open_raw` (and the
hijacked exec session built on it).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import aiodocker
import aiohttp

from docklord.engine._errors import translate_errors, unavailable
from docklord.errors import ConfigError, EngineError, EngineUnavailable, InvalidInput
from docklord.model import EngineInfo

__all__ = [
    "DEFAULT_DOCKER_HOST",
    "MAX_API_VERSION",
    "MIN_API_VERSION",
    "EngineClient",
    "check_ref",
    "filters_param",
    "negotiate_api_version",
]

#: Where the engine listens when neither an address nor ``DOCKER_HOST`` is given.
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
#: The newest API version this module (and aiodocker 0.27) was written against.
MAX_API_VERSION = "1.47"
#: The oldest API version we talk (Docker 20.10); older engines are refused on connect.
MIN_API_VERSION = "1.41"

_NAME_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_IMAGE_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/@+-]*")


def _version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError as exc:
        raise EngineError(f"the engine reported an unreadable API version {version!r}") from exc


def negotiate_api_version(engine_max: str, engine_min: str) -> str:
    """The highest API version both sides speak: ``min(engine's, MAX_API_VERSION)``.

    Raises:
        EngineError: the engine is too old for us, or we are too old for the engine.
    """
    chosen = min(engine_max, MAX_API_VERSION, key=_version_tuple)
    if _version_tuple(chosen) < _version_tuple(MIN_API_VERSION):
        raise EngineError(f"the engine speaks API {engine_max}; Docklord needs {MIN_API_VERSION}+")
    if engine_min and _version_tuple(chosen) < _version_tuple(engine_min):
        raise EngineError(f"the engine requires API {engine_min}+; Docklord speaks {chosen}")
    return chosen


def check_ref(kind: str, ref: str) -> str:
    """Refuse references that could escape their place in a URL path (``..``, ``?``, ``#``).

    Raises:
        InvalidInput: the reference is empty or malformed.
    """
    pattern = _IMAGE_REF if kind == "image" else _NAME_REF
    segments = ref.split("/")
    if not pattern.fullmatch(ref) or any(s in ("", ".", "..") for s in segments):
        raise InvalidInput(f"invalid {kind} reference {ref!r}")
    return ref


def filters_param(filters: Mapping[str, Sequence[str]]) -> str:
    """The engine's ``filters`` query value (a JSON ``map[string][]string``)."""
    return json.dumps({k: [v] if isinstance(v, str) else list(v) for k, v in filters.items()})


def _parse_host(address: str) -> tuple[str, str]:
    """Split ``unix:///path`` or ``tcp://host:port`` into (scheme, path-or-netloc)."""
    parts = urlsplit(address)
    if parts.scheme == "unix" and parts.path:
        return "unix", parts.path
    if parts.scheme in ("tcp", "http") and parts.hostname and parts.port:
        return "tcp", parts.netloc
    raise ConfigError(
        f"unsupported Docker host address {address!r}: use unix:///path or tcp://host:port"
    )


class EngineClient:
    """Connection management shared by every noun of the engine API (see ``Engine``)."""

    def __init__(self, docker_host: str | None = None, *, timeout: float = 30.0) -> None:
        address = docker_host or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
        self._scheme, self._where = _parse_host(address)
        self._address = address
        self._timeout = timeout
        self._docker: aiodocker.Docker | None = None
        self._connector: aiohttp.BaseConnector | None = None
        self._api_version = ""
        self._closed = False
        self._connect_lock = asyncio.Lock()

    @property
    def address(self) -> str:
        """The engine address, as given (``unix:///...`` or ``tcp://host:port``)."""
        return self._address

    @property
    def api_version(self) -> str:
        """The API version negotiated on connect (``""`` before the first connect)."""
        return self._api_version

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def connect(self) -> EngineInfo:
        """Reach the engine, negotiate the API version and describe the engine.

        Safe to call again (for example after :class:`EngineUnavailable`, to re-negotiate
        with a restarted engine) and after :meth:`aclose` (it reopens).

        Raises:
            EngineUnavailable: nothing answers at the address.
            EngineError: the engine's API version is outside what Docklord speaks.
        """
        async with self._connect_lock:
            self._closed = False
            docker = self._docker or self._open_client()
            try:
                version = await self._get_version(docker)
                self._api_version = negotiate_api_version(
                    str(version.get("ApiVersion", "")), str(version.get("MinAPIVersion", ""))
                )
            except BaseException:
                await self._close_client()
                raise
            docker.api_version = f"v{self._api_version}"
        return await self._describe(docker, version)

    async def aclose(self) -> None:
        """Close every pooled connection. Idempotent; streams in flight end with an error."""
        self._closed = True
        await self._close_client()

    async def info(self) -> EngineInfo:
        """Describe the engine (version, OS, counts) with the negotiated API version."""
        docker = await self._client()
        return await self._describe(docker, await self._get_version(docker))

    async def ping(self) -> None:
        """Check that the engine answers.

        Raises:
            EngineUnavailable: it does not.
        """
        docker = await self._client()
        with translate_errors(self._address):
            async with docker._query("_ping", versioned_api=False) as response:
                await response.read()

    async def open_raw(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open a fresh byte connection to the engine socket (for a Docker API tunnel).

        The caller speaks HTTP on it and closes the writer when done.

        Raises:
            EngineUnavailable: the socket cannot be reached.
        """
        try:
            async with asyncio.timeout(self._timeout):
                if self._scheme == "unix":
                    return await asyncio.open_unix_connection(self._where, limit=2**20)
                netloc = urlsplit(f"//{self._where}")
                return await asyncio.open_connection(netloc.hostname, netloc.port, limit=2**20)
        except (OSError, TimeoutError) as exc:
            raise unavailable(self._address, exc) from exc

    # -- for the noun modules -------------------------------------------------------------

    async def _client(self) -> aiodocker.Docker:
        if self._closed:
            raise EngineUnavailable(f"the engine client for {self._address} is closed")
        if self._docker is None or not self._api_version:
            await self.connect()
        if self._docker is None:
            raise EngineUnavailable(f"lost the connection to the engine at {self._address}")
        return self._docker

    async def _json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        kind: str | None = None,
        ref: str | None = None,
        slow: bool = False,
    ) -> Any:
        """One JSON request on the versioned API, errors translated.

        ``slow`` lifts the read deadline, for calls whose duration the engine decides.
        """
        docker = await self._client()
        timeout = self._long_timeout() if slow else self._request_timeout()
        with translate_errors(self._address, kind=kind, ref=ref):
            return await docker._query_json(
                path, method, params=dict(params or {}), data=body, timeout=timeout
            )

    @asynccontextmanager
    async def _stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        kind: str | None = None,
        ref: str | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A streaming response with no read deadline; errors (also mid-stream) translated."""
        docker = await self._client()
        timeout = self._long_timeout()
        with translate_errors(self._address, kind=kind, ref=ref):
            async with docker._query(
                path, method, params=dict(params or {}), timeout=timeout
            ) as response:
                try:
                    yield response
                finally:
                    # Never release(): it would drain an endless stream.
                    response.close()

    def _request_timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self._timeout, sock_connect=self._timeout)

    def _long_timeout(self) -> aiohttp.ClientTimeout:
        """Deadlines for connecting only: for streams and calls the engine may take long on."""
        return aiohttp.ClientTimeout(sock_connect=self._timeout, connect=self._timeout)

    # -- internals ------------------------------------------------------------------------

    def _open_client(self) -> aiodocker.Docker:
        # Our own connector: aiohttp's default pool of 100 would stall the 101st stream
        # (a node follows logs and stats of many containers at once).
        if self._scheme == "unix":
            connector: aiohttp.BaseConnector = aiohttp.UnixConnector(self._where, limit=0)
            url = "unix://localhost"
        else:
            connector = aiohttp.TCPConnector(limit=0)
            url = f"http://{self._where}"
        self._connector = connector
        self._docker = aiodocker.Docker(
            url=url, connector=connector, timeout=self._request_timeout()
        )
        return self._docker

    async def _close_client(self) -> None:
        docker, connector = self._docker, self._connector
        self._docker, self._connector, self._api_version = None, None, ""
        if docker is not None:
            await docker.close()
        if connector is not None:
            await connector.close()

    async def _get_version(self, docker: aiodocker.Docker) -> dict[str, Any]:
        with translate_errors(self._address):
            data = await docker._query_json("version", versioned_api=False)
        if not isinstance(data, dict):
            raise EngineError(f"the engine at {self._address} sent an unreadable /version")
        return data

    async def _describe(self, docker: aiodocker.Docker, version: Mapping[str, Any]) -> EngineInfo:
        with translate_errors(self._address):
            info = await docker.system.info()
        return EngineInfo(
            version=str(version.get("Version", "")),
            api_version=self._api_version,
            min_api_version=str(version.get("MinAPIVersion", "")),
            os=str(version.get("Os", "")),
            arch=str(version.get("Arch", "")),
            kernel_version=str(version.get("KernelVersion", "")),
            name=str(info.get("Name", "")),
            containers=int(info.get("Containers", 0)),
            images=int(info.get("Images", 0)),
        )

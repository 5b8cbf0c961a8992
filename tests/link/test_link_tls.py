"""Both network transports over TLS, verified against a private certificate."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from link_helpers import free_port
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from docklord.errors import LinkClosed
from docklord.link import (
    GrpcLinkServer,
    LinkSession,
    StarletteWebSocketTransport,
    Transport,
    connect_grpc,
    connect_websocket,
    tls_server_credentials,
)
from docklord.testing import eventually


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A self-signed certificate for 127.0.0.1 and localhost: ``(cert.pem, key.pem)``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "docklord test")])
    now = datetime.now(UTC)
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    yield cert_file, key_file


async def serve(transport: Transport) -> None:
    async def on_request(method: str, args: Any) -> Any:
        return args

    async with LinkSession(transport, on_request=on_request) as session:
        with contextlib.suppress(LinkClosed):  # the client left
            await session.run()


async def round_trip(transport: Transport) -> None:
    async with LinkSession(transport, dialer=True) as session:
        run = asyncio.create_task(session.run())
        assert await session.request("echo", {"tls": True}) == {"tls": True}
    assert await run is None


async def test_grpc_over_tls(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    credentials = tls_server_credentials(cert.read_bytes(), key.read_bytes())
    async with GrpcLinkServer(serve, server_credentials=credentials) as server:
        transport = await connect_grpc(
            f"127.0.0.1:{server.port}", root_certificates=cert.read_bytes()
        )
        await round_trip(transport)


async def test_grpc_refuses_an_unverified_server(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    credentials = tls_server_credentials(cert.read_bytes(), key.read_bytes())
    async with GrpcLinkServer(serve, server_credentials=credentials) as server:
        started = time.monotonic()
        # Refused with the reason, at once: not after the 30 s it would wait for readiness.
        with pytest.raises(LinkClosed, match="cannot connect.*CERTIFICATE_VERIFY_FAILED"):
            await connect_grpc(f"127.0.0.1:{server.port}", tls=True, open_timeout=30)
        assert time.monotonic() - started < 5


@pytest.fixture(scope="module")
async def wss_url(certificate: tuple[Path, Path]) -> AsyncIterator[str]:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await serve(StarletteWebSocketTransport(websocket))

    cert, key = certificate
    port = free_port()
    config = uvicorn.Config(
        Starlette(routes=[WebSocketRoute("/api/v1/link", endpoint)]),
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="off",
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started

    await eventually(started, what="uvicorn to start")
    yield f"wss://127.0.0.1:{port}/api/v1/link"
    server.should_exit = True
    await task


async def test_websocket_over_tls(wss_url: str, certificate: tuple[Path, Path]) -> None:
    context = ssl.create_default_context(cafile=str(certificate[0]))
    await round_trip(await connect_websocket(wss_url, ssl=context))


async def test_websocket_refuses_an_unverified_server(wss_url: str) -> None:
    with pytest.raises(LinkClosed, match="cannot connect.*CERTIFICATE_VERIFY_FAILED"):
        await connect_websocket(wss_url, ssl=ssl.create_default_context())

"""``docklord certs`` and the coordinator's TLS settings."""

from __future__ import annotations

import asyncio
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from docklord.config import CoordinatorConfig
from docklord.coordinator._tls import check_pair, uvicorn_tls, write_certificates
from docklord.errors import ConfigError


async def handshake(files_dir: Path, ca: Path, server_name: str) -> None:
    """A real TLS handshake: a server with the certificate, a client trusting ``ca``."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(files_dir / "server.pem", files_dir / "server-key.pem")

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hi")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        client_ctx = ssl.create_default_context(cafile=str(ca))
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_ctx, server_hostname=server_name
        )
        assert await reader.read() == b"hi"
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_certificates_verify_for_each_host_and_only_with_their_ca(tmp_path: Path) -> None:
    files = write_certificates(tmp_path / "a", ["127.0.0.1", "localhost"])
    other = write_certificates(tmp_path / "b", ["127.0.0.1"])
    for name in ("127.0.0.1", "localhost"):
        await handshake(files.cert.parent, files.ca_cert, name)
    with pytest.raises(ssl.SSLCertVerificationError):
        await handshake(files.cert.parent, other.ca_cert, "127.0.0.1")
    with pytest.raises(ssl.SSLCertVerificationError):
        await handshake(files.cert.parent, files.ca_cert, "elsewhere.example")
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(v) for v in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]


def test_private_keys_are_private_and_nothing_is_overwritten(tmp_path: Path) -> None:
    files = write_certificates(tmp_path, ["localhost"])
    for key in (files.key, files.ca_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    before = files.cert.read_bytes()
    with pytest.raises(ConfigError, match="--force"):
        write_certificates(tmp_path, ["localhost"])
    write_certificates(tmp_path, ["localhost"], force=True)
    assert files.cert.read_bytes() != before


def test_a_key_of_another_certificate_is_refused(tmp_path: Path) -> None:
    a = write_certificates(tmp_path / "a", ["localhost"])
    b = write_certificates(tmp_path / "b", ["localhost"])
    check_pair(str(a.cert), str(a.key))
    with pytest.raises(ConfigError, match="cannot use TLS certificate"):
        check_pair(str(a.cert), str(b.key))
    with pytest.raises(ConfigError):
        check_pair(str(tmp_path / "missing.pem"), str(a.key))


def test_tls_settings_go_together() -> None:
    with pytest.raises(ConfigError, match="go together"):
        CoordinatorConfig(tls_cert="server.pem")
    assert uvicorn_tls(CoordinatorConfig()) == {}
    on = CoordinatorConfig(tls_cert="c.pem", tls_key="k.pem")
    assert uvicorn_tls(on) == {"ssl_certfile": "c.pem", "ssl_keyfile": "k.pem"}
    with pytest.raises(ConfigError, match="at least one host"):
        write_certificates(Path("/nonexistent"), [])

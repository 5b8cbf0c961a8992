"""TLS for the coordinator: serving its certificate, and making a small private CA.

The coordinator serves HTTPS/WSS (uvicorn) and gRPC over TLS from one PEM certificate and key
(``--tls-cert`` / ``--tls-key``). Nodes verify it against the system's CAs or ``--ca-file``.
For a lab or a private fleet, :func:`write_certificates` (``docklord certs``) makes a CA and a
server certificate for the given host names and addresses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from docklord.config import CoordinatorConfig
from docklord.errors import ConfigError
from docklord.link import tls_server_credentials

__all__ = [
    "CertificateFiles",
    "check_pair",
    "check_tls",
    "grpc_credentials",
    "make_ca",
    "make_server_certificate",
    "uvicorn_tls",
    "write_certificates",
]

Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class CertificateFiles:
    """What :func:`write_certificates` wrote.

    Attributes:
        ca_cert: the CA certificate: give it to nodes (``--ca-file``) and API clients.
        ca_key: the CA's private key (mode 0600): keep it offline; it signs more certificates.
        cert: the server certificate (``--tls-cert``).
        key: the server's private key (``--tls-key``, mode 0600).
    """

    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path


def check_pair(cert: str, key: str) -> None:
    """Make sure ``cert`` and ``key`` are readable PEM files that belong together.

    Raises:
        ConfigError: a file is missing or unreadable, or the key does not match.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot use TLS certificate {cert} with key {key}: {exc}") from exc


def uvicorn_tls(config: CoordinatorConfig) -> dict[str, str]:
    """The uvicorn options that serve HTTPS/WSS, or nothing when TLS is off."""
    if not config.tls_cert:
        return {}
    return {"ssl_certfile": config.tls_cert, "ssl_keyfile": config.tls_key}


async def check_tls(config: CoordinatorConfig) -> None:
    """Fail at start, with a clear message, when the configured certificate is unusable.

    Raises:
        ConfigError: a file is missing or unreadable, or the key does not match.
    """
    if config.tls_cert:
        await asyncio.to_thread(check_pair, config.tls_cert, config.tls_key)


async def grpc_credentials(config: CoordinatorConfig) -> Any:
    """gRPC server credentials from the configured certificate, or ``None`` when TLS is off.

    Raises:
        ConfigError: the files are unusable.
    """
    if not config.tls_cert:
        return None
    await check_tls(config)
    cert = await asyncio.to_thread(Path(config.tls_cert).read_bytes)
    key = await asyncio.to_thread(Path(config.tls_key).read_bytes)
    return tls_server_credentials(cert, key)


def make_ca(name: str = "Docklord CA", days: int = 3650) -> tuple[x509.Certificate, Key]:
    """A self-signed CA certificate (P-256) that may sign server certificates only."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        _builder(subject, subject, key, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(ski, critical=False)
    )
    return builder.sign(key, hashes.SHA256()), key


def make_server_certificate(
    ca_cert: x509.Certificate, ca_key: Key, hosts: Sequence[str], days: int = 825
) -> tuple[x509.Certificate, Key]:
    """A server certificate for ``hosts`` (DNS names or IP addresses), signed by the CA.

    Raises:
        ConfigError: no host given.
    """
    if not hosts:
        raise ConfigError("give at least one host name or address")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        _builder(subject, ca_cert.subject, key, days)
        .add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
    )
    return builder.sign(ca_key, hashes.SHA256()), key


def write_certificates(
    out: Path, hosts: Sequence[str], *, days: int = 825, force: bool = False
) -> CertificateFiles:
    """Make a CA and a server certificate for ``hosts`` and write them to ``out``.

    Raises:
        ConfigError: a file exists (without ``force``), or ``out`` cannot be written.
    """
    files = CertificateFiles(
        out / "ca.pem", out / "ca-key.pem", out / "server.pem", out / "server-key.pem"
    )
    existing = [p for p in (files.ca_cert, files.ca_key, files.cert, files.key) if p.exists()]
    if existing and not force:
        raise ConfigError(f"{existing[0]} exists; pass --force to replace it")
    ca_cert, ca_key = make_ca(days=max(days, 3650))
    cert, key = make_server_certificate(ca_cert, ca_key, hosts, days)
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write(files.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
        _write(files.ca_key, _key_pem(ca_key), 0o600)
        _write(files.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        _write(files.key, _key_pem(key), 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot write certificates to {out}: {exc}") from exc
    return files


def _builder(subject: x509.Name, issuer: x509.Name, key: Key, days: int) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not ca,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _key_pem(key: Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, mode)  # O_CREAT's mode does not apply to an existing file

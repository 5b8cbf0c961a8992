from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

import structlog

from docklord.errors import HandshakeRejected, Unauthenticated
from docklord.store import NodeAuth, Store

__all__ = ["Enrolled", "NodeAuthenticator", "Registration"]

log = structlog.get_logger(__name__)


class Registration(StrEnum):
    """How a coordinator treats node ids it has never seen."""

    #: Only pre-registered nodes, or nodes holding an enrollment token, may link.
    ENROLL = "enroll"
    #: A new node id registers on first contact (trust on first use); later contacts must
    #: prove the same secret.
    OPEN = "open"


@dataclass(frozen=True, slots=True)
class Enrolled:
    """Credentials issued to a node that enrolled with a one-time token."""

    node_id: str
    password: str


class NodeAuthenticator:
    """Checks node credentials against the store, once, at the coordinator.

    Secrets are stored as argon2 hashes, which are slow on purpose; a successful check is
    remembered as a SHA-256 of the secret (in memory only) so the documented per-request access
    keys (``?node_id=&password=``) stay fast. Revoking a node forgets it at once.
    """

    def __init__(self, store: Store, registration: Registration) -> None:
        self.store = store
        self.registration = registration
        self._verified: dict[str, bytes] = {}

    def forget(self, node_id: str) -> None:
        """Drop the remembered check for ``node_id`` (after a revoke or delete)."""
        self._verified.pop(node_id, None)

    async def _verify(self, node_id: str, secret: str) -> NodeAuth:
        digest = hashlib.sha256(secret.encode()).digest()
        known = self._verified.get(node_id)
        if known is not None and hmac.compare_digest(known, digest):
            return NodeAuth.OK
        result = (await self.store.verify_node(node_id, secret)).status
        if result is NodeAuth.OK:
            self._verified[node_id] = digest
        return result

    async def check(self, node_id: str, secret: str) -> None:
        """Accept the credentials or raise ``Unauthenticated`` with a reason (no secret)."""
        if not node_id or not secret:
            raise Unauthenticated("node_id and password are required")
        result = await self._verify(node_id, secret)
        if result is NodeAuth.REVOKED:
            raise Unauthenticated(f"node {node_id} is revoked")
        if result is not NodeAuth.OK:
            raise Unauthenticated("invalid node_id or password")

    async def handshake(self, node_id: str, secret: str, enroll_token: str) -> Enrolled | None:
        """Authenticate a linking node; returns new credentials when it enrolled.

        Raises:
            HandshakeRejected: with ``reason`` ``bad_credentials`` or ``revoked``.
        """
        if enroll_token:
            return await self._enroll(enroll_token)
        if not node_id or not secret:
            raise HandshakeRejected("node_id and password are required", reason="bad_credentials")
        result = await self._verify(node_id, secret)
        if result is NodeAuth.OK:
            return None
        if result is NodeAuth.UNKNOWN and self.registration is Registration.OPEN:
            await self.store.register_node(node_id, secret)
            log.info("node registered on first contact", node_id=node_id)
            return None
        if result is NodeAuth.REVOKED:
            raise HandshakeRejected(f"node {node_id} is revoked", reason="revoked")
        if result is NodeAuth.UNKNOWN:
            raise HandshakeRejected(
                f"unknown node {node_id}: register it first (registration is enroll)",
                reason="bad_credentials",
            )
        raise HandshakeRejected("invalid node_id or password", reason="bad_credentials")

    async def _enroll(self, token: str) -> Enrolled:
        record = await self.store.consume_enrollment(token)
        if record is None:
            raise HandshakeRejected(
                "enrollment token is invalid, expired or already used", reason="bad_credentials"
            )
        node_id = record.node_id or secrets.token_hex(8)
        password = secrets.token_urlsafe(32)
        await self.store.register_node(node_id, password)
        log.info("node enrolled", node_id=node_id)
        return Enrolled(node_id=node_id, password=password)

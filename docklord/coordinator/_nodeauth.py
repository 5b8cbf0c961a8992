from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

import structlog

from docklord.coordinator._budget import SourceBudget
from docklord.errors import DocklordError, HandshakeRejected, NotFound, Unauthenticated
from docklord.store import EnrollmentToken, NodeAuth, NodeRecord, Store

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
    """Credentials issued to a node that enrolled with a one-time token, and its new record
    (with the name and labels of its invitation)."""

    node_id: str
    password: str
    record: NodeRecord


class NodeAuthenticator:
    """Checks node credentials against the store, once, at the coordinator.

    Secrets are stored hashed (see ``docklord.store``: a fast keyed hash for high-entropy
    secrets, argon2 for short ones); a successful check is also remembered as a SHA-256 of the
    secret (in memory only) so the documented per-request access keys
    (``?node_id=&password=``) skip the store. Revoking a node forgets it at once, and a check
    that was under way while the node was revoked answers ``REVOKED`` too.

    Open registration is bounded: each source address may register ``registration_budget``
    new nodes (10 at once, then one every 2 s by default), and while ``max_pending`` nodes
    have never been seen online (registered but never linked, pre-registered ones included)
    no further node registers on first contact. Both refusals are ``Reject{reason:
    "throttled"}``; deleting the stale nodes, or their linking, makes room again.

    Node registrations, enrollments and refused handshakes are written to the audit log.
    """

    def __init__(
        self,
        store: Store,
        registration: Registration,
        *,
        registration_budget: SourceBudget | None = None,
        max_pending: int = 50,
    ) -> None:
        self.store = store
        self.registration = registration
        self.registrations = registration_budget or SourceBudget(burst=10, rate=0.5)
        self.max_pending = max_pending
        # Registered on first contact by this process and not online yet.
        self._fresh: set[str] = set()
        # One open registration at a time, so concurrent ones cannot overshoot the cap.
        self._registering = asyncio.Lock()
        self._verified: dict[str, bytes] = {}
        self._revoked: set[str] = set()
        # Name and labels of nodes invited with an enrollment token, until they enroll (the
        # enrollment record has no room for them; they are lost if the coordinator restarts).
        self._invited: dict[str, tuple[str | None, dict[str, str]]] = {}

    def forget(self, node_id: str) -> None:
        """Drop the remembered check for ``node_id`` (after a revoke or delete)."""
        self._verified.pop(node_id, None)
        self._fresh.discard(node_id)

    def is_pending(self, node_id: str) -> bool:
        """Whether ``node_id`` registered on first contact and has not been online since."""
        return node_id in self._fresh

    async def linked(self, node_id: str) -> None:
        """Record that a node registered on first contact is online: it is no longer pending."""
        self._fresh.discard(node_id)
        try:
            await self.store.touch_node(node_id)
        except DocklordError as exc:
            log.warning("first sighting not recorded", node_id=node_id, error=exc.message)

    def is_revoked(self, node_id: str) -> bool:
        """Whether ``node_id`` was revoked by this coordinator while it runs."""
        return node_id in self._revoked

    async def register(
        self,
        node_id: str | None = None,
        *,
        name: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> tuple[NodeRecord, str]:
        """Pre-register a node with a new random secret; returns it with the secret (once).

        Raises:
            Conflict: the node id is taken. InvalidInput: a malformed value.
        """
        password = secrets.token_urlsafe(32)
        record = await self.store.register_node(
            node_id or secrets.token_hex(8), password, name, labels
        )
        return record, password

    async def invite(
        self,
        node_id: str | None = None,
        *,
        ttl: timedelta,
        created_by: int | None = None,
        name: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> tuple[str, EnrollmentToken, str]:
        """Reserve a node id and make a one-time enrollment token for it.

        Returns:
            The node id, the enrollment record and the token's plaintext (shown once).

        Raises:
            Conflict: the node id is taken. InvalidInput: a malformed value.
        """
        ident = node_id or secrets.token_hex(8)
        record, token = await self.store.create_enrollment(
            ttl=ttl, node_id=ident, created_by=created_by
        )
        if name is not None or labels:
            self._invited[ident] = (name, dict(labels or {}))
        return ident, record, token

    def invitation(self, node_id: str | None) -> tuple[str | None, dict[str, str]]:
        """The name and labels the node ``node_id`` was invited with (none: ``(None, {})``)."""
        name, labels = self._invited.get(node_id or "", (None, {}))
        return name, dict(labels)

    async def withdraw(self, enrollment_id: int) -> EnrollmentToken:
        """Withdraw an enrollment token that was not used yet; returns it.

        Raises:
            NotFound: no unused, unexpired enrollment token with this id.
        """
        pending = await self.store.list_enrollments(pending_only=True)
        found = next((e for e in pending if e.id == enrollment_id), None)
        if found is None:
            raise NotFound(f"no unused enrollment token with id {enrollment_id}")
        await self.store.delete_enrollment(enrollment_id)
        others = [e for e in pending if e.id != enrollment_id and e.node_id == found.node_id]
        if found.node_id is not None and not others:
            self._invited.pop(found.node_id, None)
        return found

    async def revoke(self, node_id: str) -> str:
        """Revoke a node for good, or withdraw the enrollment tokens reserved for it.

        Its credentials stop working at once (the caller closes its live link).

        Returns:
            ``"revoked"`` or ``"withdrawn"`` (it had only an unused enrollment token).

        Raises:
            NotFound: no node and no pending enrollment with this id.
        """
        self._revoked.add(node_id)
        self.forget(node_id)
        try:
            await self.store.revoke_node(node_id)
        except NotFound:
            self._revoked.discard(node_id)
            pending = await self.store.list_enrollments(pending_only=True)
            withdrawn = [e for e in pending if e.node_id == node_id]
            if not withdrawn:
                raise
            for enrollment in withdrawn:
                await self.store.delete_enrollment(enrollment.id)
            self._invited.pop(node_id, None)
            return "withdrawn"
        return "revoked"

    async def _verify(self, node_id: str, secret: str) -> NodeAuth:
        digest = hashlib.sha256(secret.encode()).digest()
        known = self._verified.get(node_id)
        if known is not None and hmac.compare_digest(known, digest):
            return NodeAuth.OK
        result = (await self.store.verify_node(node_id, secret)).status
        if result is NodeAuth.OK and node_id in self._revoked:
            return NodeAuth.REVOKED  # revoked while the store was being asked
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

    async def handshake(
        self, node_id: str, secret: str, enroll_token: str, *, source: str = ""
    ) -> Enrolled | None:
        """Authenticate a linking node; returns new credentials when it enrolled.

        Args:
            node_id, secret, enroll_token: from the node's ``Hello``.
            source: the node's address, which open registrations are counted against.

        Raises:
            HandshakeRejected: with ``reason`` ``bad_credentials``, ``revoked`` or
                ``throttled`` (too many open registrations).
        """
        try:
            return await self._handshake(node_id, secret, enroll_token, source)
        except HandshakeRejected as exc:
            await self._audit(node_id or "unknown", "node.link", f"error: {exc.reason}")
            raise

    async def _handshake(
        self, node_id: str, secret: str, enroll_token: str, source: str
    ) -> Enrolled | None:
        if enroll_token:
            return await self._enroll(enroll_token)
        if not node_id or not secret:
            raise HandshakeRejected("node_id and password are required", reason="bad_credentials")
        result = await self._verify(node_id, secret)
        if result is NodeAuth.OK:
            return None
        if result is NodeAuth.UNKNOWN and self.registration is Registration.OPEN:
            await self._register_open(node_id, secret, source)
            return None
        if result is NodeAuth.REVOKED:
            raise HandshakeRejected(f"node {node_id} is revoked", reason="revoked")
        if result is NodeAuth.UNKNOWN:
            raise HandshakeRejected(
                f"unknown node {node_id}: register it first (registration is enroll)",
                reason="bad_credentials",
            )
        raise HandshakeRejected("invalid node_id or password", reason="bad_credentials")

    async def _register_open(self, node_id: str, secret: str, source: str) -> None:
        async with self._registering:
            await self._register_open_locked(node_id, secret, source)

    async def _register_open_locked(self, node_id: str, secret: str, source: str) -> None:
        if self.registrations.exhausted(source):
            wait = self.registrations.retry_after(source)
            raise HandshakeRejected(
                f"too many new nodes from this address: retry in {wait:.0f} s", reason="throttled"
            )
        if await self.store.count_unseen_nodes() >= self.max_pending:
            raise HandshakeRejected(
                f"{self.max_pending} registered nodes have never linked: link or delete them "
                "before more nodes register",
                reason="throttled",
            )
        self.registrations.charge(source)
        await self.store.register_node(node_id, secret)
        self._fresh.add(node_id)
        log.info("node registered on first contact", node_id=node_id)
        await self._audit(node_id, "node.register", "ok")

    async def _enroll(self, token: str) -> Enrolled:
        record = await self.store.consume_enrollment(token)
        if record is None:
            raise HandshakeRejected(
                "enrollment token is invalid, expired or already used", reason="bad_credentials"
            )
        node_id = record.node_id or secrets.token_hex(8)
        password = secrets.token_urlsafe(32)
        name, labels = self._invited.pop(node_id, (None, {}))
        node = await self.store.register_node(node_id, password, name, labels)
        log.info("node enrolled", node_id=node_id)
        await self._audit(node_id, "node.enroll", "ok")
        return Enrolled(node_id=node_id, password=password, record=node)

    async def _audit(self, node_id: str, action: str, result: str) -> None:
        ident = node_id[:128]
        try:
            await self.store.record(f"node:{ident}", action, target_node=ident, result=result)
        except DocklordError as exc:
            # The node's answer must not depend on the audit write; the failure is logged.
            log.warning("audit entry not written", action=action, error=exc.message)

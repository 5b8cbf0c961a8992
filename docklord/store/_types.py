"""The values the store hands out: frozen dataclasses and enums, never ORM objects."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from docklord.model import Role

__all__ = [
    "ApiToken",
    "AuditEntry",
    "EnrollmentToken",
    "NodeAuth",
    "NodeRecord",
    "NodeVerification",
    "Role",
    "Session",
    "User",
]


class NodeAuth(enum.Enum):
    """The outcome of checking a node's credentials, so a caller can answer each case."""

    UNKNOWN = "unknown"
    """No node has this id."""
    BAD_SECRET = "bad_secret"  # noqa: S105 - a status name, not a secret
    """The node exists but the secret is wrong."""
    REVOKED = "revoked"
    """The secret is right but an admin revoked the node."""
    OK = "ok"
    """The secret is right and the node may connect."""


@dataclass(frozen=True, slots=True)
class User:
    """A person (or script) that signs in; the password hash never leaves the store.

    Attributes:
        id: database id.
        username: unique, stored in lower case.
        role: what the user may do.
        node_grants: the node ids the user may see and act on; ``None`` means every node.
        disabled: a disabled user cannot sign in, and its tokens and sessions stop working.
        created_at: when the user was created (UTC).
        updated_at: when the user was last changed (UTC).
    """

    id: int
    username: str
    role: Role
    node_grants: tuple[str, ...] | None
    disabled: bool
    created_at: datetime
    updated_at: datetime

    def may_access_node(self, node_id: str) -> bool:
        """Whether the grants of this user cover ``node_id``."""
        return self.node_grants is None or node_id in self.node_grants


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An API token; its plaintext is shown once at creation and only its hash is stored.

    Attributes:
        id: database id.
        user_id: the user the token acts as.
        name: a label chosen by the user.
        prefix: the first 8 characters of the token, to recognise it in a list.
        role_scope: narrows the user's role when set (see ``Role.capped``).
        expires_at: after this instant the token stops working; ``None`` means never.
        last_used_at: roughly when it was last used (updated at most once a minute).
        revoked_at: when it was revoked; a revoked token never works again.
        created_at: when it was created.
    """

    id: int
    user_id: int
    name: str
    prefix: str
    role_scope: Role | None
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime

    def is_active(self, now: datetime) -> bool:
        """Whether the token is neither revoked nor expired at ``now``."""
        expired = self.expires_at is not None and self.expires_at <= now
        return self.revoked_at is None and not expired


@dataclass(frozen=True, slots=True)
class Session:
    """A browser session (the cookie holds the plaintext; the store keeps its hash).

    Attributes:
        id: database id.
        user_id: the signed-in user.
        expires_at: the session ends at this instant.
        created_at: when the user signed in.
        last_seen_at: roughly when the session was last used (at most once a minute).
        source: where the sign-in came from (address, user agent), for the user's overview.
    """

    id: int
    user_id: int
    expires_at: datetime
    created_at: datetime
    last_seen_at: datetime
    source: str | None


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """A registered node; its secret hash never leaves the store.

    Attributes:
        node_id: the node's unique id.
        name: a display name.
        labels: free-form key/value labels (a fresh dict; changing it changes nothing stored).
        registered_at: when the node was registered.
        last_seen_at: when the node last connected or reported.
        revoked_at: when an admin revoked the node; ``None`` while it may connect.
        agent_version: the version of the node agent, as last reported.
        hostname: the host name, as last reported.
        engine_version: the Docker Engine version, as last reported.
    """

    node_id: str
    name: str | None
    labels: dict[str, str]
    registered_at: datetime
    last_seen_at: datetime | None
    revoked_at: datetime | None
    agent_version: str | None
    hostname: str | None
    engine_version: str | None

    @property
    def revoked(self) -> bool:
        """Whether an admin revoked the node."""
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class NodeVerification:
    """The answer of ``Store.verify_node``.

    Attributes:
        status: which of the four cases applies.
        node: the node's record whenever the id is known (every status but ``UNKNOWN``).
    """

    status: NodeAuth
    node: NodeRecord | None

    @property
    def ok(self) -> bool:
        """Whether the node may connect."""
        return self.status is NodeAuth.OK


@dataclass(frozen=True, slots=True)
class EnrollmentToken:
    """A one-time token that lets a new node register itself.

    Attributes:
        id: database id.
        node_id: the node id the token is reserved for, or ``None`` for any.
        created_by: the id of the user who created it (``None`` once that user is deleted).
        created_at: when it was created.
        expires_at: after this instant it cannot be used.
        used_at: when it was used; a used token never works again.
    """

    id: int
    node_id: str | None
    created_by: int | None
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log: who did what, where, when, and how it went.

    Attributes:
        id: grows with every entry; pass the smallest one seen as ``before_id`` to page on.
        time: when it happened (UTC).
        actor: who did it, e.g. ``"user:alice"``, ``"token:3"``, ``"node:abc"``.
        action: what was done, e.g. ``"container.stop"``.
        target_node: the node acted on, if any.
        target: the object acted on (container, image, user...), if any.
        params: the parameters of the action, with secrets removed.
        result: ``"ok"`` or ``"error: <code>"``.
        source_addr: the client address the request came from.
    """

    id: int
    time: datetime
    actor: str
    action: str
    target_node: str | None
    target: str | None
    params: dict[str, Any] | None
    result: str
    source_addr: str | None


@dataclass(frozen=True, slots=True)
class Instance:
    """A user's SSH box on one node (a container the node made from the instance image).

    Attributes:
        id: 16 hex digits, also in the container's name and labels on the node.
        user_id: the owner.
        owner: the owner's username.
        node_id: the node the container lives on.
        ssh_public_key: the key installed as the container's ``authorized_keys``.
        container_id: the container; ``None`` while the node is still creating it.
        port_base: the first of the three host ports (SSH, HTTP, HTTPS); ``None`` while
            creating.
        created_at: when the user asked for it.
    """

    id: str
    user_id: int
    owner: str
    node_id: str
    ssh_public_key: str
    container_id: str | None
    port_base: int | None
    created_at: datetime

    @property
    def ports(self) -> dict[str, int] | None:
        """``{"ssh": P, "http": P + 1, "https": P + 2}``, once allocated."""
        if self.port_base is None:
            return None
        return {"ssh": self.port_base, "http": self.port_base + 1, "https": self.port_base + 2}

"""Who is calling (:class:`Principal`, with its :class:`~docklord.model.Role`), apart from how
it is established (``docklord.web._auth``), so that the live-socket registry (``_live``) can
name a principal without importing authentication, which imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from docklord.model import Role

__all__ = ["Principal", "Role"]  # Role: re-exported, it lives in docklord.model


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as established by :func:`authenticate`.

    Attributes:
        actor: how the audit log names the caller (``user:alice``, ``token:7``, ``node:ab12``).
        username: the user's name (``node:<id>`` for node credentials).
        user_id: the user's id (0 for node credentials).
        role: the effective role (a token's scope can only lower its user's role).
        nodes: the nodes the caller may see, or ``None`` for every node.
        via_cookie: the credentials came from a browser session cookie.
        token_id: the API token used, if any.
        session_id: the session used (cookie or session token), if any.
        node_id: set when the caller used a node's credentials (an access key to that node).
        expires_at: when the credentials stop working, if they do.
    """

    actor: str
    username: str
    user_id: int
    role: Role
    nodes: frozenset[str] | None = None
    via_cookie: bool = False
    token_id: int | None = None
    session_id: int | None = None
    node_id: str | None = None
    expires_at: datetime | None = None

    def may_see(self, node_id: str) -> bool:
        """Whether the caller may see or act on ``node_id``."""
        return self.nodes is None or node_id in self.nodes

    @property
    def is_user(self) -> bool:
        """Whether a user account stands behind the credentials (not a node's access key)."""
        return self.node_id is None

    @property
    def keys(self) -> tuple[str, ...]:
        """The revocation keys of these credentials (see :class:`LiveSockets`)."""
        if self.node_id is not None:
            return (f"node:{self.node_id}",)
        keys = [f"user:{self.user_id}"]
        if self.token_id is not None:
            keys.append(f"token:{self.token_id}")
        if self.session_id is not None:
            keys.append(f"session:{self.session_id}")
        return tuple(keys)

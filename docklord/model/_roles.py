"""The one :class:`Role` enum: what a user, a token or a session may do.

The store keeps a role by its value (``"admin"``), the API writes it the same way, and
authorization compares roles by power (``principal.role >= Role.OPERATOR``), so the enum is a
string enum that orders by rank, not by its text.
"""

from __future__ import annotations

import enum

__all__ = ["Role"]


class Role(enum.StrEnum):
    """What a caller may do; each role includes the ones below it (most powerful first)."""

    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"

    @classmethod
    def parse(cls, name: str) -> Role:
        """The role called ``name`` (``admin``, ``operator``, ``viewer``, any case).

        Raises:
            KeyError: no such role.
        """
        return cls[str(name).upper()]

    @property
    def label(self) -> str:
        """The role's name as the API writes it (``admin``)."""
        return self.value

    @property
    def rank(self) -> int:
        """A number that grows with the power of the role (viewer 1, operator 2, admin 3)."""
        return _RANKS[self]

    def capped(self, scope: Role | None) -> Role:
        """The weaker of this role and ``scope``; ``None`` leaves the role as it is.

        A token's effective role is ``user.role.capped(token.role_scope)``: a scope can narrow a
        user's rights, never widen them.
        """
        if scope is None or scope.rank >= self.rank:
            return self
        return scope

    # Ordered by power: "admin" < "viewer" as text, but not as a role. A role also compares
    # with a bare rank (0 for "no role"), as the numbered roles of the API always did.
    def __lt__(self, other: object) -> bool:
        rank = _rank_of(other)
        return NotImplemented if rank is None else self.rank < rank

    def __le__(self, other: object) -> bool:
        rank = _rank_of(other)
        return NotImplemented if rank is None else self.rank <= rank

    def __gt__(self, other: object) -> bool:
        rank = _rank_of(other)
        return NotImplemented if rank is None else self.rank > rank

    def __ge__(self, other: object) -> bool:
        rank = _rank_of(other)
        return NotImplemented if rank is None else self.rank >= rank


def _rank_of(other: object) -> int | None:
    if isinstance(other, Role):
        return other.rank
    if isinstance(other, int) and not isinstance(other, bool):
        return other
    return None


_RANKS = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}

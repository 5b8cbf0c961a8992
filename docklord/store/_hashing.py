"""Hashing of the secrets the store keeps: passwords, node secrets and bearer tokens.

Two kinds of secret, two kinds of hash:

- **Passwords and node secrets** may be weak or reused, so they get argon2id (memory-hard,
  salted, slow on purpose). Checking one costs tens of milliseconds of CPU, which is why the
  store runs these functions in a worker thread.
- **API tokens, session tokens and enrollment tokens** are 32 random bytes made by
  ``new_token``: 256 bits cannot be guessed, so a slow hash would add nothing but latency to
  every request. A plain SHA-256 is deterministic, which lets the store find a token by an
  indexed lookup of its digest instead of trying a slow hash against every row. Only the digest
  is stored: a copy of the database does not give anyone a usable token.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "hash_password",
    "needs_rehash",
    "new_token",
    "token_digest",
    "verify_password",
]

_DEFAULT_HASHER = PasswordHasher()


def hash_password(password: str, *, hasher: PasswordHasher | None = None) -> str:
    """Hashes a password (or node secret) with argon2id.

    Args:
        password: the secret in plain text.
        hasher: the argon2 parameters to use; the library's recommended defaults otherwise.

    Returns:
        The encoded hash (``$argon2id$v=19$m=...``), which carries its own salt and parameters.
    """
    return (hasher or _DEFAULT_HASHER).hash(password)


def verify_password(
    password_hash: str, password: str, *, hasher: PasswordHasher | None = None
) -> bool:
    """Checks a password against a hash made by ``hash_password``.

    Returns:
        ``True`` if it matches; ``False`` if it does not or if the hash is malformed (a
        corrupt row must lock its owner out, never let them in). Never raises on a mismatch.
    """
    try:
        return (hasher or _DEFAULT_HASHER).verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str, *, hasher: PasswordHasher | None = None) -> bool:
    """Whether a hash was made with other parameters than ``hasher``'s (or is malformed)."""
    try:
        return (hasher or _DEFAULT_HASHER).check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def new_token(nbytes: int = 32) -> str:
    """A new random bearer token: ``nbytes`` random bytes, URL-safe base64 without padding."""
    return secrets.token_urlsafe(nbytes)


def token_digest(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored and looked up (see module doc)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()

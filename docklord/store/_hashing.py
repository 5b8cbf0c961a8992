"""Hashing of the secrets the store keeps: passwords, node secrets and bearer tokens.

Three kinds of secret, two kinds of hash:

- **Passwords** may be weak or reused, so they get argon2id (memory-hard, salted, slow on
  purpose). Checking one costs tens of milliseconds of CPU, which is why the store runs these
  functions in a worker thread. So do node secrets shorter than ``FAST_SECRET_MIN``
  characters: nothing says they were not typed by a person.
- **Node secrets** of ``FAST_SECRET_MIN`` characters or more are machine-made (Docklord makes
  them with ``secrets.token_urlsafe(32)``: 43 characters, 256 random bits). No hash speed makes
  256 bits guessable, so argon2 would only cost time: 1,000 nodes relinking after a restart
  took two minutes of hashing. They get HMAC-SHA256 keyed with 16 random bytes of their own
  (``hmac-sha256$SALT$DIGEST``): microseconds to check, no precomputed table applies, and two
  rows never show that two nodes share a secret. An argon2 hash of such a secret is replaced
  by this one on the node's next successful check (``node_secret_needs_rehash``).
- **API tokens, session tokens and enrollment tokens** are 32 random bytes made by
  ``new_token``: 256 bits cannot be guessed, so a slow hash would add nothing but latency to
  every request. A plain SHA-256 is deterministic, which lets the store find a token by an
  indexed lookup of its digest instead of trying a slow hash against every row. Only the digest
  is stored: a copy of the database does not give anyone a usable token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "FAST_SECRET_MIN",
    "hash_node_secret",
    "hash_password",
    "is_fast_hash",
    "needs_rehash",
    "new_token",
    "node_secret_needs_rehash",
    "token_digest",
    "verify_node_secret",
    "verify_password",
]

_DEFAULT_HASHER = PasswordHasher()
#: Node secrets at least this long get the fast keyed hash (see the module docstring).
FAST_SECRET_MIN = 32
_FAST = "hmac-sha256$"


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


def hash_node_secret(secret: str, *, hasher: PasswordHasher | None = None) -> str:
    """Hashes a node secret: fast and keyed when it is long enough, else like a password.

    Returns:
        ``hmac-sha256$SALT$DIGEST`` (hex) for a secret of ``FAST_SECRET_MIN`` characters or
        more, an argon2id hash (``hash_password``) otherwise.
    """
    if len(secret) < FAST_SECRET_MIN:
        return hash_password(secret, hasher=hasher)
    salt = secrets.token_bytes(16)
    return f"{_FAST}{salt.hex()}${_keyed(salt, secret)}"


def is_fast_hash(secret_hash: str) -> bool:
    """Whether ``secret_hash`` is a fast keyed hash (checking it needs no worker thread)."""
    return secret_hash.startswith(_FAST)


def verify_node_secret(
    secret_hash: str, secret: str, *, hasher: PasswordHasher | None = None
) -> bool:
    """Checks a node secret against either kind of hash; a malformed hash never matches."""
    if not is_fast_hash(secret_hash):
        return verify_password(secret_hash, secret, hasher=hasher)
    salt_hex, sep, digest = secret_hash[len(_FAST) :].partition("$")
    try:
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    return bool(sep and salt) and hmac.compare_digest(_keyed(salt, secret), digest)


def node_secret_needs_rehash(
    secret_hash: str, secret: str, *, hasher: PasswordHasher | None = None
) -> bool:
    """Whether a verified node secret should get a new hash: an argon2 hash of a long secret
    (migrates to the fast one) or one made with outdated argon2 parameters."""
    if is_fast_hash(secret_hash):
        return len(secret) < FAST_SECRET_MIN
    return len(secret) >= FAST_SECRET_MIN or needs_rehash(secret_hash, hasher=hasher)


def _keyed(salt: bytes, secret: str) -> str:
    # surrogatepass: a lone surrogate must make a mismatch, not an exception.
    return hmac.new(salt, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

from __future__ import annotations

import hashlib
import string

from argon2 import PasswordHasher

from docklord.store import hash_password, needs_rehash, new_token, token_digest, verify_password


def test_password_hash_round_trip_with_the_default_parameters() -> None:
    encoded = hash_password("correct horse")
    assert encoded.startswith("$argon2id$")
    assert "correct horse" not in encoded
    assert verify_password(encoded, "correct horse")
    assert not verify_password(encoded, "wrong horse")
    assert not needs_rehash(encoded)


def test_the_same_password_hashes_differently_each_time() -> None:
    assert hash_password("pw") != hash_password("pw")


def test_a_malformed_hash_never_verifies_and_asks_for_a_rehash() -> None:
    assert verify_password("not-a-hash", "pw") is False
    assert verify_password("", "") is False
    assert needs_rehash("not-a-hash") is True


def test_needs_rehash_follows_the_parameters() -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    dearer = PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1)
    encoded = hash_password("pw", hasher=cheap)
    assert not needs_rehash(encoded, hasher=cheap)
    assert needs_rehash(encoded, hasher=dearer)
    # Verification reads the parameters from the hash, whatever the hasher's own.
    assert verify_password(encoded, "pw", hasher=dearer)


def test_new_tokens_are_long_random_and_url_safe() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    alphabet = set(string.ascii_letters + string.digits + "-_")
    for token in tokens:
        assert len(token) == 43  # 32 bytes, base64 without padding
        assert set(token) <= alphabet
    assert len(new_token(16)) == 22


def test_token_digest_is_sha256_hex() -> None:
    assert token_digest("abc") == hashlib.sha256(b"abc").hexdigest()
    assert len(token_digest(new_token())) == 64


def test_node_secret_hashes_pick_their_kind_by_length() -> None:
    from docklord.store._hashing import (
        hash_node_secret,
        node_secret_needs_rehash,
        verify_node_secret,
    )

    long_secret, short_secret = "k" * 43, "short"
    fast = hash_node_secret(long_secret)
    assert fast.startswith("hmac-sha256$") and verify_node_secret(fast, long_secret)
    assert not verify_node_secret(fast, long_secret + "x")
    assert not node_secret_needs_rehash(fast, long_secret)
    slow = hash_node_secret(short_secret)
    assert slow.startswith("$argon2id$") and verify_node_secret(slow, short_secret)
    assert node_secret_needs_rehash(hash_password(long_secret), long_secret)
    for malformed in ("hmac-sha256$", "hmac-sha256$zz$00", "hmac-sha256$00", "$argon2id$junk"):
        assert not verify_node_secret(malformed, long_secret)
    assert not verify_node_secret(fast, "\ud800" * 40)  # never raises

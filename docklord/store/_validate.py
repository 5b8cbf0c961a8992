"""Checks of caller input; anything wrong becomes ``InvalidInput`` with a clear message."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from docklord.errors import InvalidInput
from docklord.store._types import Role

_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
_NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
MAX_SECRET = 1024
# Keys whose values are dropped from audit params even if a caller forgot to strip them.
_SECRET_KEYS = frozenset({"password", "secret", "token", "api_key", "authorization", "proof"})


def username(value: str) -> str:
    """Usernames are case-insensitive: they are stored and compared in lower case."""
    name = value.strip().lower() if isinstance(value, str) else ""
    if not _USERNAME.fullmatch(name):
        raise InvalidInput(
            "a username is 1-64 characters: letters, digits and . _ @ -, "
            "starting with a letter or digit"
        )
    return name


def secret(value: str, what: str = "password") -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"the {what} must not be empty")
    if len(value) > MAX_SECRET:
        raise InvalidInput(f"the {what} is longer than {MAX_SECRET} characters")
    return value


def role(value: Role | str) -> Role:
    try:
        return Role(value)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role {value!r} (one of: {choices})") from None


def node_id(value: str) -> str:
    if not isinstance(value, str) or not _NODE_ID.fullmatch(value):
        raise InvalidInput(
            "a node id is 1-128 characters: letters, digits and . _ -, "
            "starting with a letter or digit"
        )
    return value


def node_grants(value: Iterable[str] | None) -> list[str] | None:
    """``None`` (every node) stays ``None``; a list is checked, de-duplicated and sorted."""
    if value is None:
        return None
    if isinstance(value, str):
        raise InvalidInput("node_grants must be a list of node ids, not a string")
    return sorted({node_id(v) for v in value})


def labels(value: Mapping[str, str] | None) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidInput("labels must map strings to strings")
    return dict(value)


def text(value: str | None, what: str, max_len: int, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"{what} must be a non-empty string")
    if len(value) > max_len:
        raise InvalidInput(f"{what} is longer than {max_len} characters")
    return value


def aware(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(f"{what} must be a datetime with a time zone")
    return value


def ttl(value: timedelta) -> timedelta:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise InvalidInput("ttl must be a positive timedelta")
    return value


def limit(value: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise InvalidInput(f"limit must be between 1 and {maximum}")
    return value


def audit_params(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A JSON-able copy of ``value`` with well-known secret keys masked (defence in depth)."""
    if value is None:
        return None
    cleaned = _mask(dict(value))
    try:
        json.dumps(cleaned)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"audit params must be JSON-serialisable: {exc}") from None
    return cleaned  # type: ignore[no-any-return]


def _mask(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: "***" if str(k).lower() in _SECRET_KEYS else _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    return value

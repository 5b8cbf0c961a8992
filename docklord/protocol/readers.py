"""Readers for the JSON arguments of a node request or channel: the one set both ends use.

Each reader takes the argument object and a key, and answers the value typed, or raises
:class:`~docklord.errors.InvalidInput` naming the key, so both ends report a bad argument the
same way (a 422 with a message that says which argument and why).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docklord.errors import InvalidInput

__all__ = [
    "Args",
    "get",
    "opt_float",
    "opt_int",
    "opt_str",
    "read_bool",
    "read_command",
    "read_map",
    "read_maps",
    "read_str",
    "read_strs",
]

#: The JSON arguments of one request, as they came off the wire.
Args = Mapping[str, Any]


def get(args: Args, key: str, kinds: tuple[type, ...], what: str) -> Any:
    """The value at ``key`` if it is one of ``kinds`` (a bool is never a number), else ``None``."""
    value = args.get(key)
    if value is None:
        return None
    if isinstance(value, bool) is not (bool in kinds) or not isinstance(value, kinds):
        raise InvalidInput(f"{key} must be {what}")
    return value


def read_str(args: Args, key: str) -> str:
    """A required, non-empty string."""
    value = get(args, key, (str,), "a string")
    if not value:
        raise InvalidInput(f"{key} is required")
    return str(value)


def opt_str(args: Args, key: str) -> str | None:
    """An optional string."""
    value = get(args, key, (str,), "a string")
    return None if value is None else str(value)


def read_bool(args: Args, key: str, default: bool = False) -> bool:
    """A boolean, ``default`` when absent."""
    value = get(args, key, (bool,), "true or false")
    return default if value is None else bool(value)


def opt_int(args: Args, key: str, low: int = 0, high: int | None = None) -> int | None:
    """An optional integer between ``low`` and ``high``."""
    value = get(args, key, (int,), "an integer")
    if value is not None and value < low:
        raise InvalidInput(f"{key} must be at least {low}")
    if value is not None and high is not None and value > high:
        raise InvalidInput(f"{key} must be at most {high}")
    return None if value is None else int(value)


def opt_float(args: Args, key: str) -> float | None:
    """An optional number."""
    value = get(args, key, (int, float), "a number")
    return None if value is None else float(value)


def read_strs(args: Args, key: str) -> list[str] | None:
    """An optional list of strings."""
    value = get(args, key, (list,), "a list of strings")
    if value is not None and not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{key} must be a list of strings")
    return None if value is None else list(value)


def read_command(args: Args, key: str = "cmd") -> list[str]:
    """A command to run: a non-empty list of strings whose first (the program) is not empty."""
    value = read_strs(args, key)
    if not value or not value[0]:
        raise InvalidInput(f"{key} must be a non-empty list of arguments")
    return value


def read_map(args: Args, key: str) -> dict[str, str]:
    """An object of strings, empty when absent."""
    value = get(args, key, (dict,), "an object of strings") or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidInput(f"{key} must be an object of strings")
    return dict(value)


def read_maps(args: Args, key: str) -> list[Args]:
    """A list of objects, empty when absent."""
    value = get(args, key, (list,), "a list of objects") or []
    if not all(isinstance(v, dict) for v in value):
        raise InvalidInput(f"{key} must be a list of objects")
    return list(value)

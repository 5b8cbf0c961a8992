"""The one place where engine and transport failures become Docklord errors.

The engine answers errors as an HTTP status plus ``{"message": ...}``; aiodocker raises them as
``DockerError(status, message)`` and reports a failed connection as status 900. Transport
failures (socket missing, refused, reset, timed out) all mean the same thing to a caller: the
engine cannot be reached, so they become :class:`EngineUnavailable` naming the address.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

import aiodocker
import aiohttp

from docklord.errors import (
    Conflict,
    DocklordError,
    EngineError,
    EngineUnavailable,
    InvalidInput,
    NotFound,
)

__all__ = ["error_for_status", "translate_errors", "unavailable"]

# aiodocker's marker status for "could not connect" (it is not an HTTP status).
_AIODOCKER_CONNECT_FAILED = 900

_FOREIGN: tuple[type[BaseException], ...] = (
    aiodocker.DockerError,
    aiohttp.ClientError,
    OSError,
    TimeoutError,
    asyncio.IncompleteReadError,
    json.JSONDecodeError,
)


def error_for_status(
    status: int, message: str, *, kind: str | None = None, ref: str | None = None
) -> DocklordError:
    """Map an engine HTTP error status to the error tree.

    Args:
        status: the HTTP status the engine answered.
        message: the engine's message.
        kind: what ``ref`` names (``"container"``, ``"image"``...), for a 404 message
            (``no such container: <ref>``).
        ref: the reference the caller used.
    """
    message = message.strip() or f"the engine answered HTTP {status}"
    if status == 404:
        # Name the thing the caller asked for, unless the engine says something else is
        # missing (starting a container whose network was removed answers 404 too).
        about_ref = kind is not None and ref is not None and kind in message.lower()
        return NotFound(f"no such {kind}: {ref}" if about_ref else message)
    if status == 409:
        return Conflict(message)
    if status == 400:
        return InvalidInput(message)
    return EngineError(message, details={"status": status})


def unavailable(address: str, exc: BaseException | str) -> EngineUnavailable:
    """An :class:`EngineUnavailable` naming the address and the transport's reason."""
    reason = exc if isinstance(exc, str) else _reason(exc)
    return EngineUnavailable(f"cannot reach the Docker Engine at {address}: {reason}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, aiodocker.DockerError) and exc.__context__ is not None:
        # aiodocker raises its status-900 error while handling the aiohttp one.
        return _reason(exc.__context__)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return _reason(exc.os_error)
    if isinstance(exc, OSError) and (exc.errno or exc.strerror):
        # asyncio words a refused TCP connect as "Connect call failed (...)"; the errno is
        # the same everywhere.
        return os.strerror(exc.errno) if exc.errno else str(exc.strerror)
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "connection closed in the middle of a message"
    return str(exc) or type(exc).__name__


def _convert(exc: BaseException, address: str, kind: str | None, ref: str | None) -> DocklordError:
    if isinstance(exc, aiodocker.DockerError):
        if exc.status == _AIODOCKER_CONNECT_FAILED:
            return unavailable(address, exc)
        return error_for_status(exc.status, exc.message, kind=kind, ref=ref)
    if isinstance(exc, json.JSONDecodeError):
        return EngineError(f"the Docker Engine at {address} sent malformed JSON: {exc}")
    if isinstance(exc, aiohttp.ClientError) and not isinstance(
        exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError
    ):
        return EngineError(f"request to the Docker Engine at {address} failed: {exc}")
    return unavailable(address, exc)


@contextmanager
def translate_errors(
    address: str, *, kind: str | None = None, ref: str | None = None
) -> Iterator[None]:
    """Convert engine and transport exceptions raised in the block (``raise X from exc``).

    Errors already in the Docklord tree pass through unchanged.
    """
    try:
        yield
    except DocklordError:
        raise
    except _FOREIGN as exc:
        raise _convert(exc, address, kind, ref) from exc

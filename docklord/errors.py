"""The one error tree of Docklord.

Every error a caller can see is one of these; foreign exceptions are converted at the boundary
where they happen (``raise X(...) from exc``). The API maps the tree to HTTP status codes in one
place (``docklord.coordinator``), and the node link carries ``code`` across the wire so that the
same class is raised on the other side::

    DocklordError                      500 internal
    ├── EngineError                    502 engine_error
    │   └── EngineUnavailable          503 engine_unavailable
    ├── LinkError                      503 link_error
    │   ├── NodeOffline                503 node_offline
    │   ├── RequestTimeout             504 timeout
    │   ├── LinkClosed                 503 link_closed
    │   └── HandshakeRejected          401 rejected
    ├── NotFound                       404 not_found
    ├── Conflict                       409 conflict
    │   └── AmbiguousRef               409 ambiguous_ref
    ├── Unauthenticated                401 unauthenticated
    ├── PermissionDenied               403 forbidden
    ├── InvalidInput                   422 invalid_input
    └── ConfigError                    (raised at start-up only)
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AmbiguousRef",
    "Conflict",
    "ConfigError",
    "DocklordError",
    "EngineError",
    "EngineUnavailable",
    "HandshakeRejected",
    "InvalidInput",
    "LinkClosed",
    "LinkError",
    "NodeOffline",
    "NotFound",
    "PermissionDenied",
    "RequestTimeout",
    "Unauthenticated",
    "error_from_code",
]


class DocklordError(Exception):
    """Base of every Docklord error.

    Attributes:
        message: a sentence for humans; never contains a secret.
        details: optional structured data (for example the matches of an ambiguous reference).
    """

    code: ClassVar[str] = "internal"
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used by the API: ``{"code", "message"[, "details"]}``."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class EngineError(DocklordError):
    """The Docker Engine answered with an error we have no finer class for."""

    code = "engine_error"
    status = 502


class EngineUnavailable(EngineError):
    """The Docker Engine cannot be reached at its address."""

    code = "engine_unavailable"
    status = 503


class LinkError(DocklordError):
    """Something went wrong on the coordinator-node link."""

    code = "link_error"
    status = 503


class NodeOffline(LinkError):
    """The node has no live link to this coordinator."""

    code = "node_offline"
    status = 503


class RequestTimeout(LinkError):
    """A request over the link got no answer in time."""

    code = "timeout"
    status = 504


class LinkClosed(LinkError):
    """The link closed while a request or channel was in flight."""

    code = "link_closed"
    status = 503


class HandshakeRejected(LinkError):
    """The peer refused the handshake (bad credentials, revoked, incompatible version)."""

    code = "rejected"
    status = 401

    def __init__(
        self, message: str, *, reason: str = "", details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.reason = reason


class NotFound(DocklordError):
    """The thing asked for does not exist."""

    code = "not_found"
    status = 404


class Conflict(DocklordError):
    """The request conflicts with the current state (duplicate name, ambiguous reference...)."""

    code = "conflict"
    status = 409


class AmbiguousRef(Conflict):
    """A reference (an id prefix, a name across nodes) matches several objects.

    ``details`` is ``{"matches": [candidates, with ids and names], "count": n}``.
    """

    code = "ambiguous_ref"


class Unauthenticated(DocklordError):
    """No valid credentials were presented."""

    code = "unauthenticated"
    status = 401


class PermissionDenied(DocklordError):
    """The caller is known but may not do this."""

    code = "forbidden"
    status = 403


class InvalidInput(DocklordError):
    """The request is malformed or a value is out of range."""

    code = "invalid_input"
    status = 422


class ConfigError(DocklordError):
    """The configuration is invalid; raised at start-up."""

    code = "config_error"
    status = 500


_BY_CODE: dict[str, type[DocklordError]] = {
    cls.code: cls
    for cls in (
        DocklordError,
        EngineError,
        EngineUnavailable,
        LinkError,
        NodeOffline,
        RequestTimeout,
        LinkClosed,
        HandshakeRejected,
        NotFound,
        Conflict,
        AmbiguousRef,
        Unauthenticated,
        PermissionDenied,
        InvalidInput,
        ConfigError,
    )
}


def error_from_code(
    code: str, message: str, details: dict[str, Any] | None = None
) -> DocklordError:
    """Rebuild an error received over the wire; unknown codes become ``DocklordError``."""
    cls = _BY_CODE.get(code, DocklordError)
    return cls(message, details=details)

"""What a node request method is: a name, an argument type and a result reader, and the limits.

A request travels as a method name and a JSON object of arguments (``Request.method`` and
``Request.args`` in ``docklord.proto``); the answer is one JSON document. The catalogue built
from these pieces (``docklord.protocol.methods``) is what both ends share (STYLE item 17): the
coordinator builds a typed args value and gets a typed result back
(``Coordinator.call(node, CONTAINERS_STOP, StopArgs(ref=...))``); the node decodes the
arguments with the same type before its handler runs, so a bad argument is refused once, at the
node, with :class:`~docklord.errors.InvalidInput` (422) naming the argument. The wire stays JSON:
an older peer that sends dicts is served the same way.

Results the coordinator reads field by field are typed (:class:`ContainerState`,
:class:`ExecOutput`...); documents it relays to API clients as they are (inspect, lists, prune
reports) are :data:`Json` objects, checked to be objects.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Generic, Self, TypeVar

from docklord.errors import InvalidInput, LinkError
from docklord.protocol.readers import Args

__all__ = [
    "MAX_EXEC_TIMEOUT",
    "MAX_STOP_TIMEOUT",
    "Json",
    "MethodArgs",
    "MethodResult",
    "NodeMethod",
    "counts",
    "decode_args",
    "json_object",
    "signal_name",
    "to_wire",
]

#: The longest stop/restart grace period a caller may ask for (seconds).
MAX_STOP_TIMEOUT = 600
#: The longest one-shot exec or LittleWings command (seconds).
MAX_EXEC_TIMEOUT = 3600.0

#: A JSON object answered as it is.
Json = dict[str, Any]

A = TypeVar("A", bound="MethodArgs")
R = TypeVar("R")

_SIGNALS = frozenset(
    (
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU",
        "XFSZ", "RTMIN", "RTMAX",
        *(f"RTMIN+{n}" for n in range(1, 16)),
        *(f"RTMAX-{n}" for n in range(1, 15)),
    )
)  # fmt: skip


def signal_name(value: str) -> str:
    """A signal as the engine takes it: ``SIG`` and a name Linux knows, or a number 1-64.

    Raises:
        ValueError: not a signal (the HTTP layer answers 422 from it, the node InvalidInput).
    """
    name = value.strip().upper()
    if name.isdigit():
        if not 1 <= int(name) <= 64:
            raise ValueError("a signal number is between 1 and 64")
        return str(int(name))
    name = name.removeprefix("SIG")
    if name not in _SIGNALS:
        raise ValueError(f"unknown signal {value!r} (try SIGTERM, KILL or 9)")
    return f"SIG{name}"


def to_wire(value: Any) -> Any:
    """A typed value (dataclasses, lists, mappings of them) as a JSON-able document."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_wire(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [to_wire(item) for item in value]
    if isinstance(value, Mapping):
        return {key: to_wire(item) for key, item in value.items()}
    return value


class MethodArgs(abc.ABC):
    """The arguments of one request method: a frozen dataclass that reads and writes JSON.

    Each method's argument class says how it reads itself (:meth:`from_json`); one without
    that cannot be made.
    """

    __slots__ = ()

    @classmethod
    @abc.abstractmethod
    def from_json(cls, args: Args) -> Self:
        """Read the arguments, raising ``InvalidInput`` naming a bad one."""

    def to_json(self) -> Json:
        """The arguments as sent: fields that are ``None`` are left out."""
        doc: Json = to_wire(self)
        return {key: value for key, value in doc.items() if value is not None}


class MethodResult(abc.ABC):
    """The typed answer of a request method; :meth:`from_json` reads what a node sent."""

    __slots__ = ()

    @classmethod
    @abc.abstractmethod
    def from_json(cls, doc: Args) -> Self:
        """Read the answer, raising ``InvalidInput`` naming a bad field."""

    def to_json(self) -> Json:
        """The answer as the node sends it."""
        doc: Json = to_wire(self)
        return doc


@dataclasses.dataclass(frozen=True, slots=True)
class NodeMethod(Generic[A, R]):
    """One request method: its wire name, its argument type and how its answer is read.

    Args:
        name: the method name on the wire (``containers.stop``).
        args: the argument type; the node decodes every request with it.
        result: reads the answer's JSON into the result type (``InvalidInput`` if malformed).
    """

    name: str
    args: type[A]
    result: Callable[[Args], R]

    def decode_args(self, doc: Any) -> A:
        """The typed arguments of a request as received (``None`` is no arguments)."""
        return decode_args(self.args, doc, "request arguments")

    def decode_result(self, doc: Any) -> R:
        """The typed answer, or ``LinkError`` when the node answered something else."""
        try:
            if not isinstance(doc, Mapping):
                raise InvalidInput("the answer is not a JSON object")
            return self.result(doc)
        except InvalidInput as exc:
            raise LinkError(f"the node answered {self.name} malformed: {exc.message}") from exc


def decode_args(args: type[A], doc: Any, what: str) -> A:
    """``doc`` read as ``args`` (``None`` is no arguments); ``InvalidInput`` when it is not a
    JSON object or a field is bad. ``what`` names the document in the error."""
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        raise InvalidInput(f"{what} must be a JSON object")
    return args.from_json(doc)


def json_object(doc: Args) -> Json:
    """A result relayed as it is (it is already known to be an object)."""
    return dict(doc)


def counts(doc: Args) -> dict[str, int]:
    """A result that maps names to counts."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in doc.values()):
        raise InvalidInput("every count must be an integer")
    return {str(k): int(v) for k, v in doc.items()}

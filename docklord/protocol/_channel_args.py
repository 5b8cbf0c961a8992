"""The channel kinds: each name with the type of the arguments it is opened with.

A channel is opened with a kind and a JSON object of arguments (``OpenChannel`` in
``docklord.proto``); the node decodes them with the kind's type before its handler runs, so a bad
argument is refused once, at the node, with ``InvalidInput`` naming it, exactly as the request
methods' arguments are (``docklord.protocol._methods``). What each kind then sends is in
``docklord.protocol._channels`` (frames) and ``docklord.node._ops_streams``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Generic, Literal, Self, TypeVar

from docklord.protocol._methods import MethodArgs, decode_args
from docklord.protocol.readers import (
    Args,
    opt_float,
    opt_int,
    opt_str,
    read_bool,
    read_command,
    read_map,
    read_str,
)

__all__ = ["ChannelKind", "ExecSessionArgs", "LogsArgs", "PullArgs"]

A = TypeVar("A", bound=MethodArgs)

#: The largest terminal a client may ask for (rows or columns).
MAX_TERMINAL = 10_000


@dataclasses.dataclass(frozen=True, slots=True)
class ChannelKind(Generic[A]):
    """One channel kind: its wire name and the type of its arguments."""

    name: str
    args: type[A]

    def decode_args(self, doc: Any) -> A:
        """The typed arguments of a channel as opened (``None`` is no arguments)."""
        return decode_args(self.args, doc, "stream arguments")


@dataclasses.dataclass(frozen=True, slots=True)
class LogsArgs(MethodArgs):
    """``logs``: which lines of a container's output, and whether to follow.

    ``since`` is Unix seconds, or ``"now"`` for the node's own clock at the open (a follow that
    wants only new lines). ``follow_restarts`` follows across restarts and later starts.
    """

    ref: str
    stdout: bool = True
    stderr: bool = True
    tail: int | None = None
    since: float | Literal["now"] | None = None
    until: float | None = None
    timestamps: bool = False
    follow: bool = False
    follow_restarts: bool = False

    @classmethod
    def from_json(cls, args: Args) -> Self:
        since: float | Literal["now"] | None = (
            "now" if args.get("since") == "now" else opt_float(args, "since")
        )
        return cls(
            ref=read_str(args, "ref"),
            stdout=read_bool(args, "stdout", True),
            stderr=read_bool(args, "stderr", True),
            tail=opt_int(args, "tail"),
            since=since,
            until=opt_float(args, "until"),
            timestamps=read_bool(args, "timestamps"),
            follow=read_bool(args, "follow"),
            follow_restarts=read_bool(args, "follow_restarts"),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ExecSessionArgs(MethodArgs):
    """``exec``: an interactive command; ``rows`` and ``cols`` size its terminal at start."""

    ref: str
    cmd: list[str]
    tty: bool = True
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    workdir: str | None = None
    user: str | None = None
    rows: int | None = None
    cols: int | None = None

    @classmethod
    def from_json(cls, args: Args) -> Self:
        return cls(
            ref=read_str(args, "ref"),
            cmd=read_command(args),
            tty=read_bool(args, "tty", True),
            env=read_map(args, "env"),
            workdir=opt_str(args, "workdir"),
            user=opt_str(args, "user"),
            rows=opt_int(args, "rows", 1, MAX_TERMINAL),
            cols=opt_int(args, "cols", 1, MAX_TERMINAL),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class PullArgs(MethodArgs):
    """``images.pull``: the image reference to pull (``name[:tag]`` or ``name@digest``)."""

    image: str

    @classmethod
    def from_json(cls, args: Args) -> Self:
        return cls(image=read_str(args, "image"))

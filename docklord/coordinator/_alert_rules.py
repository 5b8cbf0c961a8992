"""Alert rules as the evaluator uses them: kinds, selectors and each kind's parameters.

A stored rule (``docklord.store.AlertRule``, validated by the API) is compiled once into a
:class:`Rule`: globs and the log pattern are compiled, parameters read with their defaults.
The resolve rule of each kind is documented in ``docs/OBSERVABILITY.md`` and in
:class:`Kind`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from docklord.errors import InvalidInput
from docklord.model import ContainerSummary
from docklord.store import AlertRule

__all__ = [
    "CONTAINER_KINDS",
    "MAX_LINE",
    "MAX_PATTERN",
    "NODE_KINDS",
    "Kind",
    "Rule",
    "Selector",
    "check_pattern",
]

#: The longest log pattern a rule may hold, and the longest line matched (longer ones are cut).
MAX_PATTERN = 256
MAX_LINE = 4096
_REPEAT = frozenset("*+{")


class Kind(StrEnum):
    """What a rule watches, and when its incident resolves.

    - ``container_died``: a container exits with a non-zero code or is OOM-killed; resolves
      when it runs again or is removed.
    - ``restart_loop``: ``restarts`` restarts within ``window`` seconds; resolves after
      ``window`` seconds without a restart, or when the container is removed.
    - ``unhealthy``: the health check reports ``unhealthy``; resolves on ``healthy``, or when
      the container stops or is removed.
    - ``cpu_high`` / ``memory_high``: a sample above ``threshold`` (CPU percent of one core;
      memory percent of the limit, or ``threshold_bytes``) in every batch for ``duration``
      seconds; resolves at the first sample at or below it, or when sampling stops.
    - ``node_offline``: the node's link is down for ``duration`` seconds; resolves when the
      node is online again (or is removed).
    - ``engine_unavailable``: the node reports its engine unavailable for ``duration``
      seconds; resolves when it is available again, or the node goes offline or is removed.
    - ``log_match``: a line of a selected, running container matches ``pattern``; resolves
      after ``resolve_after`` seconds without a matching line, or when the container is
      removed.
    """

    CONTAINER_DIED = "container_died"
    RESTART_LOOP = "restart_loop"
    UNHEALTHY = "unhealthy"
    CPU_HIGH = "cpu_high"
    MEMORY_HIGH = "memory_high"
    NODE_OFFLINE = "node_offline"
    ENGINE_UNAVAILABLE = "engine_unavailable"
    LOG_MATCH = "log_match"


NODE_KINDS = frozenset({Kind.NODE_OFFLINE, Kind.ENGINE_UNAVAILABLE})
CONTAINER_KINDS = frozenset(Kind) - NODE_KINDS


def check_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a log pattern, refusing long ones and those that look catastrophic.

    Raises:
        InvalidInput: too long, not a regular expression, or nested quantifiers.
    """
    if not pattern or len(pattern) > MAX_PATTERN:
        raise InvalidInput(f"pattern must be 1 to {MAX_PATTERN} characters")
    if _nested_repeat(pattern):
        raise InvalidInput(
            "pattern has a quantified group that holds a quantifier (like (a+)+), which can "
            "take exponential time; rewrite it without the nesting"
        )
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InvalidInput(f"pattern is not a regular expression: {exc}") from exc


def _nested_repeat(pattern: str) -> bool:
    """Whether a repeated group (``(...)*``, ``+``, ``{n,}``) holds a repetition itself: the
    shape of the patterns that backtrack exponentially (``(a+)+``, ``((ab)*)+``). Python's
    ``re`` has no time limit, so such patterns are refused outright."""
    stack: list[bool] = []  # per open group: whether it holds a repetition
    i, closed_repeats = 0, False
    while i < len(pattern):
        c = pattern[i]
        after_group, closed_repeats = closed_repeats, False
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i = _class_end(pattern, i)
            continue
        if c == "(":
            stack.append(False)
        elif c == ")" and stack:
            closed_repeats = stack.pop()
            if closed_repeats and stack:
                stack[-1] = True
        elif c in _REPEAT:
            if after_group:
                return True
            if stack:
                stack[-1] = True
        i += 1
    return False


def _class_end(pattern: str, start: int) -> int:
    """The index after the character class opening at ``start``."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


@dataclass(frozen=True, slots=True)
class Selector:
    """What a rule applies to; every part given must match (an empty selector: everything).

    ``nodes``: node ids or globs. ``name``: a glob over the container name (for node kinds,
    over the node's name and id). ``labels``: exact values (``"*"``: the label is present),
    of the container (for node kinds, of the node).
    """

    nodes: tuple[str, ...] = ()
    name: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Selector:
        """The selector stored with a rule."""
        return cls(
            nodes=tuple(data.get("nodes") or ()),
            name=data.get("name") or None,
            labels=dict(data.get("labels") or {}),
        )

    def node_matches(self, node_id: str) -> bool:
        """Whether the node part matches ``node_id``."""
        return not self.nodes or any(fnmatch.fnmatchcase(node_id, n) for n in self.nodes)

    def _labels_match(self, labels: Mapping[str, str]) -> bool:
        return all(k in labels and (v == "*" or labels[k] == v) for k, v in self.labels.items())

    def container(self, node_id: str, summary: ContainerSummary) -> bool:
        """Whether the rule applies to this container."""
        if not self.node_matches(node_id):
            return False
        if self.name is not None and not fnmatch.fnmatchcase(summary.name, self.name):
            return False
        return self._labels_match(summary.labels)

    def node(self, node_id: str, name: str, labels: Mapping[str, str]) -> bool:
        """Whether the rule (of a node kind) applies to this node."""
        if not self.node_matches(node_id):
            return False
        if self.name is not None and not (
            fnmatch.fnmatchcase(name, self.name) or fnmatch.fnmatchcase(node_id, self.name)
        ):
            return False
        return self._labels_match(labels)


@dataclass(frozen=True, slots=True)
class Rule:
    """A stored rule, compiled for evaluation."""

    id: int
    name: str
    kind: Kind
    selector: Selector
    channel_ids: tuple[int, ...]
    params: Mapping[str, Any]
    pattern: re.Pattern[str] | None = None

    @classmethod
    def compile(cls, stored: AlertRule) -> Rule:
        """Compile ``stored``.

        Raises:
            InvalidInput: an unknown kind or a bad log pattern (the API refuses both first).
        """
        try:
            kind = Kind(stored.kind)
        except ValueError as exc:
            raise InvalidInput(f"unknown alert kind {stored.kind!r}") from exc
        pattern = None
        if kind is Kind.LOG_MATCH:
            pattern = check_pattern(str(stored.params.get("pattern", "")))
        return cls(
            id=stored.id,
            name=stored.name,
            kind=kind,
            selector=Selector.from_json(stored.selector),
            channel_ids=stored.channel_ids,
            params=dict(stored.params),
            pattern=pattern,
        )

    def number(self, name: str, default: float) -> float:
        """A numeric parameter, or its default."""
        value = self.params.get(name)
        return float(value) if isinstance(value, int | float) else default

    @property
    def duration(self) -> float:
        """Seconds a condition must hold (thresholds, offline, engine)."""
        return self.number("duration", 60.0 if self.kind is Kind.NODE_OFFLINE else 0.0)

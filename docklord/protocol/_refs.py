"""How a reference (``ref``) names one container, image or network: the one resolver.

Both ends use it: the coordinator for containers (against its live cache), the node for the
images and networks a destructive call names (against the engine's listing), so the engine's
own, looser resolution (any id prefix, even one character) never decides what is removed.

The rules, in order:

1. an exact id (``sha256:`` optional) or an exact name wins;
2. otherwise an id prefix of at least :data:`MIN_ID_PREFIX` characters matches; a shorter one
   matches nothing, like an unknown ref (``404``), even when it happens to be unique;
3. several matches answer ``409 ambiguous_ref`` listing (at most :data:`MAX_REF_CANDIDATES` of)
   the candidates, with their ids and names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from docklord.errors import AmbiguousRef, NotFound

__all__ = ["MAX_REF_CANDIDATES", "MIN_ID_PREFIX", "resolve_ref"]

#: The shortest id prefix that resolves (as ``git`` and ``docker`` print 12, people type 4+).
MIN_ID_PREFIX = 4
#: How many candidates an ``ambiguous_ref`` error lists (``details["count"]`` has them all).
MAX_REF_CANDIDATES = 20

T = TypeVar("T")


def resolve_ref(
    ref: str,
    candidates: Iterable[T],
    *,
    kind: str,
    id_of: Callable[[T], str],
    names_of: Callable[[T], Iterable[str]],
    describe: Callable[[T], dict[str, Any]],
) -> T:
    """The one candidate ``ref`` names (see the module docstring for the rules).

    Args:
        ref: what the caller typed: an id, an id prefix or a name.
        candidates: what it may name.
        kind: ``container``, ``image``... for the messages.
        id_of: a candidate's full id.
        names_of: a candidate's names (a container's name, an image's tags...).
        describe: a candidate as listed in an ``ambiguous_ref`` error.

    Raises:
        NotFound: nothing matches (also an id prefix shorter than :data:`MIN_ID_PREFIX`).
        AmbiguousRef: several match; ``details`` is ``{"matches": [...], "count": n}``.
    """
    needle = ref.strip()
    bare = _bare(needle)
    exact: list[T] = []
    prefixed: list[T] = []
    for candidate in candidates:
        full = _bare(id_of(candidate))
        if full == bare or needle in names_of(candidate):
            exact.append(candidate)
        elif len(bare) >= MIN_ID_PREFIX and full.startswith(bare):
            prefixed.append(candidate)
    matches = exact or prefixed
    if not needle or not matches:
        raise NotFound(f"no such {kind}: {ref}")
    if len(matches) > 1:
        raise AmbiguousRef(
            f"{kind} reference {ref!r} is ambiguous: it matches {len(matches)} {kind}s",
            details={
                "matches": [describe(m) for m in matches[:MAX_REF_CANDIDATES]],
                "count": len(matches),
            },
        )
    return matches[0]


def _bare(value: str) -> str:
    """An id without its ``sha256:`` algorithm (image ids have it, container ids not)."""
    return value.removeprefix("sha256:")

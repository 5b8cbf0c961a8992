from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from docklord.errors import NotFound
from docklord.model import ContainerSummary
from docklord.protocol import MIN_ID_PREFIX
from docklord.protocol import resolve_ref as _resolve

__all__ = ["check_uncached_ref", "resolve_ref"]

_Pair = tuple[str, ContainerSummary]


def resolve_ref(ref: str, candidates: Iterable[_Pair]) -> _Pair:
    """Find the one container ``ref`` names among ``(node_id, summary)`` pairs.

    ``ref`` is a full id, a name (with or without the leading ``/``), or an id prefix of at
    least ``MIN_ID_PREFIX`` (4) characters; an exact id or name wins over prefixes
    (:func:`docklord.protocol.resolve_ref` holds the rules).

    Raises:
        NotFound: nothing matches.
        AmbiguousRef: the prefix (or name, across nodes) matches several containers;
            ``details`` lists them as ``{"matches": [{"node_id", "id", "name"}, ...]}``.
    """
    return _resolve(
        ref.strip().lstrip("/"),
        candidates,
        kind="container",
        id_of=lambda pair: pair[1].id,
        names_of=lambda pair: (pair[1].name,),
        describe=_describe,
    )


def check_uncached_ref(ref: str) -> str:
    """``ref`` if it may go to the node's engine as is (the cache does not know it yet).

    The engine resolves any id prefix, even one character long; a ref that short is refused
    here, so the rule that a prefix needs ``MIN_ID_PREFIX`` characters holds for containers
    the cache has not seen yet too (a short *name* resolves once the cache has it, within
    moments of its creation).

    Raises:
        NotFound: ``ref`` is shorter than ``MIN_ID_PREFIX`` characters.
    """
    if len(ref.strip().lstrip("/")) < MIN_ID_PREFIX:
        raise NotFound(f"no such container: {ref}")
    return ref


def _describe(pair: _Pair) -> dict[str, Any]:
    node_id, summary = pair
    return {"node_id": node_id, "id": summary.id, "name": summary.name}

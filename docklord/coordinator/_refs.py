from __future__ import annotations

from collections.abc import Iterable

from docklord.errors import Conflict, NotFound
from docklord.model import ContainerSummary

__all__ = ["resolve_ref"]


def resolve_ref(
    ref: str, candidates: Iterable[tuple[str, ContainerSummary]]
) -> tuple[str, ContainerSummary]:
    """Find the one container ``ref`` names among ``(node_id, summary)`` pairs.

    ``ref`` is a full id, a name (with or without the leading ``/``), or a unique id prefix;
    an exact id or name wins over prefixes.

    Raises:
        NotFound: nothing matches.
        Conflict: the prefix (or name, across nodes) matches several containers; ``details``
            lists them as ``{"matches": [{"node_id", "id", "name"}, ...]}``.
    """
    needle = ref.strip().lstrip("/")
    if not needle:
        raise NotFound("empty container reference")
    exact: list[tuple[str, ContainerSummary]] = []
    prefixed: list[tuple[str, ContainerSummary]] = []
    for node_id, summary in candidates:
        if summary.id == needle or summary.name == needle:
            exact.append((node_id, summary))
        elif summary.id.startswith(needle):
            prefixed.append((node_id, summary))
    matches = exact or prefixed
    if not matches:
        raise NotFound(f"no such container: {ref}")
    if len(matches) > 1:
        listed = [{"node_id": n, "id": s.id, "name": s.name} for n, s in matches]
        raise Conflict(
            f"container reference {ref!r} is ambiguous: it matches {len(matches)} containers",
            details={"matches": listed},
        )
    return matches[0]

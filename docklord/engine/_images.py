"""Images: list, pull (with progress), remove, prune."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from docklord.engine._client import EngineClient, check_ref, filters_param
from docklord.engine._frames import Oversized, json_lines
from docklord.engine._parse import str_map
from docklord.errors import DocklordError, EngineError, NotFound
from docklord.model import ImageSummary, PruneResult, PullProgress

__all__ = ["ImageOps", "pull_progress", "split_image_ref"]

_NONE_REFS = frozenset({"<none>:<none>", "<none>@<none>"})
_NOT_FOUND_HINTS = ("not found", "manifest unknown", "does not exist", "no such")


def split_image_ref(ref: str) -> tuple[str, str]:
    """``(repository, tag-or-digest)`` for a pull; a missing tag means ``latest``.

    ``127.0.0.1:5000/x`` has no tag (the colon belongs to the registry address).
    """
    name, at, digest = ref.partition("@")
    slash, colon = name.rfind("/"), name.rfind(":")
    tag = name[colon + 1 :] if colon > slash else ""
    name = name[:colon] if colon > slash else name
    return name, (digest if at else tag or "latest")


def pull_progress(doc: Mapping[str, Any]) -> PullProgress:
    """A :class:`PullProgress` from one message of ``POST /images/create``."""
    detail = doc.get("progressDetail") or {}
    error = doc.get("error") or (doc.get("errorDetail") or {}).get("message") or ""
    return PullProgress(
        status=str(doc.get("status", "")),
        id=str(doc.get("id", "")),
        progress_current=int(detail["current"]) if "current" in detail else None,
        progress_total=int(detail["total"]) if detail.get("total") else None,
        detail=str(doc.get("progress", "")),
        error=str(error),
    )


def _pull_error(ref: str, message: str) -> DocklordError:
    if any(hint in message.lower() for hint in _NOT_FOUND_HINTS):
        return NotFound(f"image {ref} not found: {message}")
    return EngineError(f"pulling {ref} failed: {message}")


def _image_summary(item: Mapping[str, Any]) -> ImageSummary:
    tags = tuple(t for t in item.get("RepoTags") or () if t not in _NONE_REFS)
    digests = tuple(d for d in item.get("RepoDigests") or () if d not in _NONE_REFS)
    return ImageSummary(
        id=str(item.get("Id", "")),
        repo_tags=tags,
        repo_digests=digests,
        created=float(item.get("Created", 0)),
        size=int(item.get("Size", 0)),
        labels=str_map(item.get("Labels")),
    )


def _deleted(items: object) -> tuple[str, ...]:
    """Refs from ``[{"Untagged": ...}, {"Deleted": ...}]``, in the engine's order."""
    out: list[str] = []
    for item in items if isinstance(items, list) else []:
        out.extend(str(v) for v in item.values() if v)
    return tuple(out)


class ImageOps(EngineClient):
    """Image operations of :class:`~docklord.engine.Engine`."""

    async def list_images(self) -> list[ImageSummary]:
        """The engine's tagged and untagged top-level images."""
        items = await self._json("GET", "images/json")
        return [_image_summary(item) for item in items]

    async def pull(self, ref: str) -> AsyncIterator[PullProgress]:
        """Pull an image, yielding the engine's progress messages.

        Args:
            ref: ``[registry/]repository[:tag|@digest]``; no tag means ``latest``.

        Raises:
            NotFound: the registry has no such image (raised after yielding the message
                that carries the error).
            EngineError: the pull failed otherwise.
        """
        check_ref("image", ref)
        name, tag = split_image_ref(ref)
        params = {"fromImage": name, "tag": tag}
        async with self._stream("POST", "images/create", params=params, kind="image", ref=ref) as r:
            async for doc in json_lines(r):
                if isinstance(doc, Oversized):
                    continue  # a progress message, nothing a pull depends on
                progress = pull_progress(doc)
                yield progress
                if progress.error:
                    raise _pull_error(ref, progress.error)

    async def remove_image(self, ref: str, *, force: bool = False) -> list[str]:
        """Untag and delete an image; returns the untagged refs and deleted ids, in order.

        Raises:
            NotFound: no such image.
            Conflict: a container uses it (and ``force`` is not set).
        """
        check_ref("image", ref)
        params = {"force": force}
        items = await self._json(
            "DELETE", f"images/{ref}", params=params, kind="image", ref=ref, slow=True
        )
        return list(_deleted(items))

    async def prune_images(
        self, *, dangling_only: bool = True, filters: Mapping[str, Sequence[str]] | None = None
    ) -> PruneResult:
        """Remove unused images.

        Args:
            dangling_only: only untagged images; ``False`` removes every image no container
                uses.
            filters: further engine filters (``label``, ``until``) to narrow the prune.
        """
        merged = {**(filters or {}), "dangling": ["true" if dangling_only else "false"]}
        params = {"filters": filters_param(merged)}
        data = await self._json("POST", "images/prune", params=params, slow=True)
        return PruneResult(
            deleted=_deleted(data.get("ImagesDeleted")),
            space_reclaimed=int(data.get("SpaceReclaimed") or 0),
        )

"""Images, volumes and networks of one node, through the coordinator.

Each route asks the node over its link (an offline node answers 503 at once). Pulls stream
the engine's progress from an ``images.pull`` channel as NDJSON. Mutating routes write one
audit entry each, on success and on failure.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import Field

from docklord.coordinator import iso
from docklord.errors import DocklordError, LinkClosed, LinkError, NotFound
from docklord.link import Channel
from docklord.protocol import methods
from docklord.web._audit import audit, audited
from docklord.web._auth import Principal, Role, require_node
from docklord.web._containers import (
    IMAGE_PATTERN,
    NAME_PATTERN,
    Labels,
    StrictModel,
)
from docklord.web._deps import coordinator_of

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/nodes/{node}", tags=["images, volumes, networks"])

Viewer = Annotated[Principal, Depends(require_node(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require_node(Role.OPERATOR))]

NDJSON = "application/x-ndjson"
_IMAGE_REF = re.compile(IMAGE_PATTERN)
_NAME = re.compile(NAME_PATTERN)
_DRIVER = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"
_PROGRESS_FIELDS = ("status", "id", "progress_current", "progress_total")

LabelFilter = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=512)]] | None,
    Query(description="only objects with this label (`key` or `key=value`); repeatable"),
]


class PullIn(StrictModel):
    """The body of ``POST .../images/pull``."""

    image: str = Field(min_length=1, max_length=512, pattern=IMAGE_PATTERN)


class VolumeIn(StrictModel):
    """The body of ``POST .../volumes``."""

    name: str | None = Field(default=None, max_length=255, pattern=NAME_PATTERN)
    labels: Labels = Field(default_factory=dict)
    driver: str | None = Field(default=None, max_length=255, pattern=_DRIVER)


class NetworkIn(StrictModel):
    """The body of ``POST .../networks``."""

    name: str = Field(min_length=1, max_length=255, pattern=NAME_PATTERN)
    driver: str | None = Field(default=None, max_length=255, pattern=_DRIVER)
    labels: Labels = Field(default_factory=dict)
    internal: bool = False


def _with_iso(doc: Mapping[str, Any], key: str) -> dict[str, Any]:
    created = doc.get(key)
    return {**doc, key: iso(created) if isinstance(created, int | float) else None}


def _check(pattern: re.Pattern[str], kind: str, ref: str) -> str:
    """A reference that cannot name anything answers 404, like an unknown one."""
    if not pattern.fullmatch(ref) or any(s in ("", ".", "..") for s in ref.split("/")):
        raise NotFound(f"no such {kind}: {ref}")
    return ref


# ---- images -------------------------------------------------------------------------------


@router.get("/images")
async def list_images(node: str, principal: Viewer, request: Request) -> dict[str, Any]:
    """The node's images (``created`` as ISO 8601)."""
    result = await coordinator_of(request).call(node, methods.IMAGES_LIST)
    return {"node_id": node, "images": [_with_iso(i, "created") for i in result["images"]]}


@router.post(
    "/images/pull",
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON: {}}, "description": "progress, one JSON per line"}},
)
async def pull_image(
    node: str, body: PullIn, principal: Operator, request: Request
) -> StreamingResponse:
    """Pull an image on the node, streaming its progress as NDJSON.

    Errors before the first progress message answer with their status (404 for an unknown
    image, 503 for an offline node); later ones end the stream with an ``{"error"}`` line.
    """
    params = {"image": body.image}
    try:
        pull = methods.PullArgs(body.image)
        channel = await coordinator_of(request).open_channel(node, methods.IMAGES_PULL, pull)
        lines = _lines(channel)
        first = await anext(lines, None)
    except DocklordError as exc:
        await audit(
            request, principal, "image.pull", node=node, target=body.image, params=params,
            error=exc,
        )  # fmt: skip
        raise
    stream = _pull_stream(request, principal, node, body.image, channel, lines, first)
    return StreamingResponse(stream, media_type=NDJSON)


async def _lines(channel: Channel) -> AsyncIterator[bytes]:
    buffer = b""
    async for _stream, data in channel:
        buffer += data
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            if line.strip():
                yield line
    if buffer.strip():
        yield buffer


def _ndjson(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


def _progress(line: bytes) -> bytes:
    try:
        doc = json.loads(line)
    except ValueError as exc:
        raise LinkError("the node sent an unreadable pull progress line") from exc
    return _ndjson({key: doc.get(key) for key in _PROGRESS_FIELDS})


async def _pull_stream(
    request: Request,
    principal: Principal,
    node: str,
    image: str,
    channel: Channel,
    lines: AsyncIterator[bytes],
    first: bytes | None,
) -> AsyncIterator[bytes]:
    outcome: DocklordError | None = LinkClosed("the client left before the pull ended")
    try:
        if first is not None:
            yield _progress(first)
        async for line in lines:
            yield _progress(line)
        outcome = None
        yield _ndjson({"status": "done", "image": image})
    except DocklordError as exc:
        outcome = exc
        yield _ndjson({"error": exc.to_dict()})
    finally:
        await channel.aclose()
        # A client that left cancels this generator; the audit entry is written regardless.
        with anyio.CancelScope(shield=True):
            await audit(
                request, principal, "image.pull", node=node, target=image,
                params={"image": image}, error=outcome,
            )  # fmt: skip


@router.delete("/images/{ref:path}")
async def remove_image(
    node: str, ref: str, principal: Operator, request: Request, force: bool = False
) -> dict[str, Any]:
    """Untag and delete an image: ``{"deleted": [untagged refs and deleted ids]}``."""
    async with audited(
        request, principal, "image.remove", node=node, target=ref, params={"force": force}
    ):
        args = methods.ImageRemoveArgs(ref=_check(_IMAGE_REF, "image", ref), force=force)
        result = await coordinator_of(request).call(node, methods.IMAGES_REMOVE, args)
    return {"node_id": node, "deleted": result.deleted}


@router.post("/images/prune")
async def prune_images(
    node: str,
    principal: Operator,
    request: Request,
    dangling: Annotated[bool, Query(description="false: every image no container uses")] = True,
    label: LabelFilter = None,
) -> dict[str, Any]:
    """Remove unused images: ``{"deleted": [...], "space_reclaimed": bytes}``."""
    params = {"dangling": dangling, "labels": label or []}
    async with audited(request, principal, "image.prune", node=node, params=params):
        args = methods.PruneArgs(labels=label or [], dangling=dangling)
        result = await coordinator_of(request).call(node, methods.IMAGES_PRUNE, args)
    return {"node_id": node, **result}


# ---- volumes ------------------------------------------------------------------------------


@router.get("/volumes")
async def list_volumes(node: str, principal: Viewer, request: Request) -> dict[str, Any]:
    """The node's volumes (``created`` as ISO 8601, ``null`` when the engine does not say)."""
    result = await coordinator_of(request).call(node, methods.VOLUMES_LIST)
    return {"node_id": node, "volumes": [_with_iso(v, "created") for v in result["volumes"]]}


@router.post("/volumes", status_code=201)
async def create_volume(
    node: str, body: VolumeIn, principal: Operator, request: Request
) -> dict[str, Any]:
    """Create a volume (an existing name answers the existing volume, as the engine does)."""
    params = body.model_dump(exclude_none=True)
    async with audited(
        request, principal, "volume.create", node=node, target=body.name, params=params
    ) as entry:
        args = methods.VolumeCreateArgs(
            name=body.name, labels=body.labels, driver=body.driver or "local"
        )
        result = await coordinator_of(request).call(node, methods.VOLUMES_CREATE, args)
        entry.target = result["name"]
    return {"node_id": node, **_with_iso(result, "created")}


@router.delete("/volumes/{name}", status_code=204)
async def remove_volume(
    node: str, name: str, principal: Operator, request: Request, force: bool = False
) -> Response:
    """Remove a volume; one in use answers 409."""
    async with audited(
        request, principal, "volume.remove", node=node, target=name, params={"force": force}
    ):
        args = methods.VolumeRemoveArgs(name=_check(_NAME, "volume", name), force=force)
        await coordinator_of(request).call(node, methods.VOLUMES_REMOVE, args)
    return Response(status_code=204)


@router.post("/volumes/prune")
async def prune_volumes(
    node: str, principal: Operator, request: Request, label: LabelFilter = None
) -> dict[str, Any]:
    """Remove the volumes no container uses (narrowed by ``label``)."""
    params = {"labels": label or []}
    async with audited(request, principal, "volume.prune", node=node, params=params):
        args = methods.PruneArgs(labels=label or [])
        result = await coordinator_of(request).call(node, methods.VOLUMES_PRUNE, args)
    return {"node_id": node, **result}


# ---- networks -----------------------------------------------------------------------------


@router.get("/networks")
async def list_networks(node: str, principal: Viewer, request: Request) -> dict[str, Any]:
    """The node's networks (including ``bridge``, ``host`` and ``none``)."""
    result = await coordinator_of(request).call(node, methods.NETWORKS_LIST)
    return {"node_id": node, "networks": result["networks"]}


@router.post("/networks", status_code=201)
async def create_network(
    node: str, body: NetworkIn, principal: Operator, request: Request
) -> dict[str, Any]:
    """Create a network; a taken name answers 409."""
    params = body.model_dump(exclude_none=True)
    async with audited(
        request, principal, "network.create", node=node, target=body.name, params=params
    ):
        args = methods.NetworkCreateArgs(
            name=body.name,
            driver=body.driver or "bridge",
            labels=body.labels,
            internal=body.internal,
        )
        result = await coordinator_of(request).call(node, methods.NETWORKS_CREATE, args)
    return {"node_id": node, **result}


@router.post("/networks/prune")
async def prune_networks(
    node: str, principal: Operator, request: Request, label: LabelFilter = None
) -> dict[str, Any]:
    """Remove the networks no container uses (narrowed by ``label``; never the predefined
    ``bridge``, ``host`` and ``none``): ``{"deleted": [names], "space_reclaimed": 0}``."""
    params = {"labels": label or []}
    async with audited(request, principal, "network.prune", node=node, params=params):
        args = methods.PruneArgs(labels=label or [])
        result = await coordinator_of(request).call(node, methods.NETWORKS_PRUNE, args)
    return {"node_id": node, **result}


@router.delete("/networks/{ref}", status_code=204)
async def remove_network(node: str, ref: str, principal: Operator, request: Request) -> Response:
    """Remove a network by name or id; one with containers attached answers 409."""
    async with audited(request, principal, "network.remove", node=node, target=ref):
        args = methods.RefArgs(ref=_check(_NAME, "network", ref))
        await coordinator_of(request).call(node, methods.NETWORKS_REMOVE, args)
    return Response(status_code=204)

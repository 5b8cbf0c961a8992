"""The fleet's recent engine events, from the coordinator's per-node journals.

``GET /api/v1/events?limit=N``: what a page that opens now shows before the events socket
brings anything (the Events page's timeline). Each node's journal keeps its last
``JOURNAL_SIZE`` events (the ones ``since_seq`` resumes from); this merges the newest of them
across the nodes the caller may see, oldest first by the engine's time, each exactly as the
events socket sends it. Nothing here calls a node: an offline node's journal is still read.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from docklord.coordinator import event_json
from docklord.web._auth import Principal, Role, require
from docklord.web._container_policy import visible_message
from docklord.web._deps import coordinator_of

__all__ = ["MAX_EVENTS", "router"]

router = APIRouter()

#: The most events one answer holds (the page asks for a few hundred).
MAX_EVENTS = 1000

Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]


@router.get("/api/v1/events")
async def recent_events(
    request: Request,
    principal: Viewer,
    limit: Annotated[int, Query(ge=1, le=MAX_EVENTS, description="at most this many")] = 300,
) -> JSONResponse:
    """The newest ``limit`` engine events of the nodes the caller sees, oldest first, and the
    seq of each node's newest event (``seq``): an event socket opened before this answer
    delivers every later one, so a page that merges both by ``(node_id, seq)`` has each
    event once and none missing."""
    fleet = coordinator_of(request).fleet
    merged: list[dict[str, Any]] = []
    seqs: dict[str, int] = {}
    for state in list(fleet.nodes.values()):
        if principal.nodes is not None and state.node_id not in principal.nodes:
            continue
        seqs[state.node_id] = state.seq
        # The socket's rule: a non-admin does not hear of instance containers' events (their
        # owner gets ``instance`` messages instead, which no timeline shows).
        for event in state.journal.last(limit):
            shown = visible_message(principal, event_json(state.node_id, event))
            if shown is not None and shown["kind"] == "event":
                merged.append(shown)
    merged.sort(key=lambda m: (m["time_nano"], m["node_id"], m["seq"]))
    return JSONResponse({"events": merged[-limit:], "seq": seqs})

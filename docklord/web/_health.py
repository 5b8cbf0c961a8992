"""Probes for process supervisors: ``/healthz`` (alive) and ``/readyz`` (can serve)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from docklord.web._deps import coordinator_of

__all__ = ["router"]

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
async def healthz() -> JSONResponse:
    """The process is alive."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    """The coordinator can serve: its database answers."""
    coordinator = coordinator_of(request)
    if not await coordinator.store.ping():
        return JSONResponse({"status": "unavailable", "database": "down"}, 503)
    return JSONResponse({"status": "ok", "nodes_online": coordinator.fleet.online_count()})

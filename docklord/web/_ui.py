"""The browser UI and the API reference, served from the front-end build.

``frontend/`` (TypeScript, built with Vite; see docs/DEVELOPMENT.md) builds into
``docklord/web/_ui/``, which is part of the package (and of the wheel) but never of git. The
coordinator answers:

- ``/`` and every UI path (:data:`UI_PATHS`, with anything below them, so that deep links such
  as ``/containers/<node>/<ref>`` work) with ``index.html``, revalidated on every load;
- ``/assets/<name>`` with the hashed files of the build, cached for a year (a new build has new
  names);
- ``/docs`` with Swagger UI from the npm ``swagger-ui-dist`` package (nothing from a CDN).

Every other path goes to the API untouched: an unknown ``/api`` path still answers the JSON
``404``. The pages carry a Content-Security-Policy that allows this origin only.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["CSP", "UI_DIR", "UI_PATHS", "UiFiles", "router"]

#: Where the front-end build puts its output (``npm run build`` in ``frontend/``).
UI_DIR = Path(__file__).parent / "_ui"
#: The UI's own paths: each, and anything below it, answers ``index.html``.
UI_PATHS = (
    "/containers",
    "/nodes",
    "/events",
    "/logs",
    "/create",
    "/images",
    "/volumes",
    "/networks",
    "/instances",
    "/users",
    "/account",
    "/audit",
    "/alerts",
)
#: Same origin only; inline styles for Swagger UI's and Preact's style attributes. WebSocket
#: URLs of this origin are covered by ``'self'``.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_ASSET_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}
#: The build's file names (hashed by Vite): nothing else is looked up on disk.
_ASSET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

router = APIRouter(include_in_schema=False)


def _error(status: int, code: str, message: str) -> JSONResponse:
    # The API's one error shape (docklord.web._app.error_response, which imports this module).
    return JSONResponse({"error": {"code": code, "message": message}}, status)


def page(name: str, directory: Path = UI_DIR) -> Response:
    """One HTML page of the build, or a ``503`` saying how to build it."""
    path = directory / name
    if not path.is_file():
        return _error(
            503,
            "ui_not_built",
            "the browser UI is not built: run ./scripts/up, or `npm ci && npm run build` "
            "in frontend/ (see docs/DEVELOPMENT.md)",
        )
    return FileResponse(path, media_type="text/html", headers=_PAGE_HEADERS)


@router.get("/docs")
async def docs() -> Response:
    """The API reference (Swagger UI over ``/openapi.json``)."""
    return page("docs.html")


@router.get("/docs/oauth2-redirect")
async def docs_oauth2_redirect() -> Response:
    """Swagger UI's OAuth2 redirect page."""
    return page("oauth2-redirect.html")


def is_ui_path(path: str) -> bool:
    """Whether ``path`` is the UI's (answered with ``index.html``)."""
    return path == "/" or any(path == p or path.startswith(p + "/") for p in UI_PATHS)


class UiFiles:
    """Answers ``GET``/``HEAD`` of the UI's paths and assets before the API sees them."""

    def __init__(self, app: ASGIApp, directory: Path = UI_DIR) -> None:
        self.app = app
        self.directory = directory

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/assets/"):
            response = self._asset(path.removeprefix("/assets/"))
        elif is_ui_path(path):
            response = page("index.html", self.directory)
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)

    def _asset(self, name: str) -> Response:
        path = self.directory / "assets" / name
        if not _ASSET_NAME.fullmatch(name) or not path.is_file():
            return _error(404, "not_found", "Not Found")
        return FileResponse(path, headers=_ASSET_HEADERS)

"""The browser UI and the API reference as the coordinator serves them (in process).

These read the real front-end build in ``docklord/web/_ui/`` (``./scripts/test`` builds it
first): what ships in the wheel is what is checked.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from docklord.web._ui import UI_DIR, UiFiles
from tests.web._asgi import coordinator_app


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with coordinator_app(tmp_path) as (_, app, _token):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


def assert_page(response: httpx.Response) -> None:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp
    assert "http" not in csp and "*" not in csp  # no external origin, no wildcard


async def test_ui_paths_and_deep_links_answer_index_html(client: httpx.AsyncClient) -> None:
    index = (UI_DIR / "index.html").read_text()
    for path in ("/", "/containers", "/containers/n1/web", "/nodes", "/events", "/logs?q=x"):
        response = await client.get(path)
        assert_page(response)
        assert response.text == index, path
    head = await client.head("/containers/n1/web")
    assert head.status_code == 200 and head.content == b""


async def test_assets_are_immutable_and_local(client: httpx.AsyncClient) -> None:
    index = (await client.get("/")).text
    assets = re.findall(r'(?:src|href)="([^"]+)"', index)
    assert assets and all(a.startswith("/assets/") for a in assets), assets
    for asset in assets:
        response = await client.get(asset)
        assert response.status_code == 200, asset
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    for missing in ("/assets/nope.js", "/assets/..%2Findex.html", "/assets/"):
        response = await client.get(missing)
        assert response.status_code == 404, missing
        assert response.json()["error"]["code"] == "not_found"


async def test_the_api_keeps_its_paths(client: httpx.AsyncClient) -> None:
    unknown = await client.get("/api/v1/no-such-thing")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": {"code": "not_found", "message": "Not Found"}}
    assert (await client.get("/api/v1/me")).status_code == 401
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "Docklord"
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    other = await client.get("/not-a-ui-path")
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    posted = await client.post("/")
    assert posted.status_code in (404, 405) and "error" in posted.json()


async def test_docs_is_swagger_ui_from_the_package(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/docs/oauth2-redirect"):
        response = await client.get(path)
        assert_page(response)
        assert "cdn" not in response.text.lower() and "https://" not in response.text
        scripts = re.findall(r'src="([^"]+)"', response.text)
        assert scripts and all(s.startswith("/assets/") for s in scripts), scripts
    docs = (await client.get("/docs")).text
    script = re.search(r'<script type="module"[^>]*src="([^"]+)"', docs)
    assert script is not None
    bundle = (await client.get(script.group(1))).text
    assert "SwaggerUIBundle" in bundle and "/openapi.json" in bundle


async def test_a_missing_build_says_how_to_make_it(tmp_path: Path) -> None:
    app = UiFiles(Starlette(), directory=tmp_path)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        response = await c.get("/containers")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "ui_not_built"
    assert "npm ci" in response.json()["error"]["message"]

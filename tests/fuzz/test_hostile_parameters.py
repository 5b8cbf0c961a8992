"""Every path and query parameter of every operation, one hostile value at a time.

Random generation rarely lands on the few values that break a parameter parser (an id past
2^63, the documented ``tail=all``, an empty value), so this sweep sends each of them to each
parameter of the document, as admin (who reaches every route; the viewer's runs are
schemathesis's), the other parameters at harmless values. No answer may be a 5xx, and each
must be documented for its operation, in the error shape.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from docklord.web import create_app
from tests.fuzz._fleet import NODES, FuzzFleet

DOCUMENT: dict[str, Any] = create_app(object()).openapi()  # type: ignore[arg-type]

HOSTILE = [
    "",
    "all",
    "-1",
    str(2**63),  # past SQLite's and PostgreSQL's 64-bit integers
    "1e309",  # past a float
    "\x00",
    "%ED%A0%80",  # a lone surrogate, UTF-8 encoded (not valid UTF-8)
]


def baseline(fleet: FuzzFleet, name: str) -> str:
    """A harmless value for a path parameter that is not the one under test."""
    return {
        "node": NODES[0],
        "ref": fleet.nodes[0].containers[0].id,
        "name": "fuzz-volume",
        "instance_id": "0123456789abcdef",
    }.get(name, "999999")


def requests(fleet: FuzzFleet) -> list[tuple[str, str, str, dict[str, str], dict[str, Any]]]:
    """(method, url, what, query, operation) for each parameter and hostile value.

    An empty path parameter is left out: that is another URL (a redirect to it).
    """
    out = []
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                for value in HOSTILE:
                    if parameter["in"] == "path" and not value:
                        continue
                    url, query = path, {}
                    for p in operation["parameters"]:
                        if p["in"] == "path":
                            raw = value if p is parameter else baseline(fleet, p["name"])
                            safe = "%" if p is parameter else ""
                            url = url.replace("{" + p["name"] + "}", quote(raw, safe=safe))
                    if parameter["in"] == "query":
                        query[parameter["name"]] = value
                    what = f"{parameter['name']}={value[:24]!r}"
                    out.append((method.upper(), url, what, query, operation))
    return out


def problem(response: httpx.Response, operation: dict[str, Any]) -> str | None:
    """What is wrong with an answer, or ``None``."""
    if response.status_code >= 500:
        return f"{response.status_code} {response.text[:200]}"
    if str(response.status_code) not in operation["responses"]:
        return f"undocumented {response.status_code} {response.text[:200]}"
    if response.status_code >= 400:
        error = response.json().get("error")
        if not (isinstance(error, dict) and {"code", "message"} <= error.keys()):
            return f"{response.status_code} not in the error shape: {response.text[:200]}"
    return None


def test_no_parameter_value_breaks_an_operation(fuzz_fleet: FuzzFleet) -> None:
    tokens = fuzz_fleet.call(fuzz_fleet.reset_credentials)
    headers = {"Authorization": f"Bearer {tokens['admin']}"}

    async def sweep() -> list[str]:
        transport = httpx.ASGITransport(fuzz_fleet.app, raise_app_exceptions=False)
        found = []
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            for method, url, what, query, operation in requests(fuzz_fleet):
                response = await c.request(method, url, params=query, headers=headers)
                if (why := problem(response, operation)) is not None:
                    found.append(f"{method} {url[:100]} ({what}): {why}")
        return found

    found = fuzz_fleet.call(sweep, timeout=120)
    assert not found, f"{len(found)} bad answers:\n" + "\n".join(found)

from __future__ import annotations

import inspect

import docklord.engine
from docklord.engine import Engine


def test_public_surface_is_pinned() -> None:
    assert sorted(docklord.engine.__all__) == sorted(
        [
            "DEFAULT_DOCKER_HOST",
            "MAX_API_VERSION",
            "MIN_API_VERSION",
            "Engine",
            "ExecSession",
            "human_duration",
        ]
    )
    for name in docklord.engine.__all__:
        assert getattr(docklord.engine, name) is not None


def test_engine_methods_are_pinned() -> None:
    public = {
        name
        for name, _ in inspect.getmembers(Engine)
        if not name.startswith("_") or name in ("__aenter__", "__aexit__")
    }
    assert public == {
        "__aenter__",
        "__aexit__",
        "aclose",
        "address",
        "api_version",
        "connect",
        "create_container",
        "create_network",
        "create_volume",
        "events",
        "exec_interactive",
        "exec_run",
        "get_summary",
        "info",
        "inspect_container",
        "kill",
        "list_containers",
        "list_images",
        "list_networks",
        "list_volumes",
        "logs",
        "open_raw",
        "pause",
        "ping",
        "prune_images",
        "prune_networks",
        "prune_volumes",
        "pull",
        "put_files",
        "remove",
        "remove_image",
        "remove_network",
        "remove_volume",
        "restart",
        "start",
        "stats",
        "stats_once",
        "stop",
        "top",
        "unpause",
    }


def test_engine_does_not_leak_its_http_library() -> None:
    for name in ("logs", "stats", "events", "pull"):
        assert inspect.isasyncgenfunction(getattr(Engine, name))
    source_names = set(vars(docklord.engine))
    assert not {"aiodocker", "aiohttp"} & source_names

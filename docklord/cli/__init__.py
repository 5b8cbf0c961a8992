"""The ``docklord`` command: coordinator, node, up, and client commands."""

from __future__ import annotations

from docklord.cli._main import app, main

__all__ = ["app", "main"]

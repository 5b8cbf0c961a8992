"""The ``docklord`` command: coordinator, node, up, and client commands.

``_main`` holds the Typer app and the server commands; the other command modules register on
it when imported here, so no module imports back the package that imports it.
"""

from __future__ import annotations

from docklord.cli import _certs, _tunnel  # noqa: F401  (register `docklord certs`, `tunnel`)
from docklord.cli._main import app, main

__all__ = ["app", "main"]

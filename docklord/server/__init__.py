"""The coordinator's HTTP server: uvicorn, guarded against slow and abusive clients, serving
the web application (``docklord.web``) of a running :class:`~docklord.coordinator.Coordinator`,
and stopping in the coordinator's order on SIGTERM.

It sits above ``web`` (DESIGN.md §12): the coordinator knows nothing of HTTP servers, and
``docklord coordinator`` / ``docklord up`` (``docklord.cli``) start one.
"""

from __future__ import annotations

from docklord.server._guards import SHUTDOWN_GRACE, SLOW_GRACE, GracefulServer, uvicorn_limits
from docklord.server._server import HttpServer

__all__ = ["SHUTDOWN_GRACE", "SLOW_GRACE", "GracefulServer", "HttpServer", "uvicorn_limits"]

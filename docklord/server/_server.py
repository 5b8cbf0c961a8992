"""Serving one coordinator over HTTP until cancelled or asked to stop."""

from __future__ import annotations

import asyncio
import gc

import uvicorn

from docklord._runtime import install_stats_signal
from docklord.coordinator import Coordinator, uvicorn_tls
from docklord.server._guards import GracefulServer, uvicorn_limits
from docklord.web import create_app

__all__ = ["HttpServer"]


class HttpServer:
    """The HTTP listener of ``coordinator``: REST, WebSocket streams, the UI and the WebSocket
    node link, on ``config.host:config.port``::

        async with Coordinator(config) as coordinator:
            server = HttpServer(coordinator)
            install_shutdown_signals(server.shutdown)
            await server.serve()
    """

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        #: The bound HTTP port, once :meth:`serve` has started listening.
        self.port: int | None = None
        self._server: GracefulServer | None = None
        self._stop_requested = False

    async def serve(self, *, ready: asyncio.Event | None = None) -> None:
        """Serve until cancelled or :meth:`shutdown`; ``ready`` is set once listening.

        SIGUSR1 logs the process's asyncio tasks, RSS and open fds (``runtime stats``).
        """
        coordinator = self.coordinator
        config = coordinator.config
        install_stats_signal()
        server = GracefulServer(
            uvicorn.Config(
                create_app(coordinator),
                host=config.host,
                port=config.port,
                log_config=None,
                access_log=False,
                lifespan="off",
                ws_max_size=16 * 1024 * 1024,
                ws_ping_interval=None,
                **uvicorn_limits(config),
                **uvicorn_tls(config),  # type: ignore[arg-type]
            ),
            close_links=coordinator.links.aclose,
        )
        self._server = server
        if self._stop_requested:
            server.should_exit = True
        task = asyncio.create_task(server.serve())
        try:
            # uvicorn offers only a `started` flag to learn that it listens.
            while not server.started and not task.done():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            if server.started:
                self.port = server.servers[0].sockets[0].getsockname()[1]
                _freeze_startup_objects()
            if ready is not None:
                ready.set()
            await task
        finally:
            server.should_exit = True
            await coordinator.links.aclose()
            await asyncio.gather(task, return_exceptions=True)

    def shutdown(self) -> None:
        """Ask :meth:`serve` to stop: no new connections, client WebSockets closed with
        ``1001``, in-flight requests given ``SHUTDOWN_GRACE`` seconds, then the node links
        closed cleanly. Safe to call from a signal handler, and more than once.
        """
        self._stop_requested = True
        if self._server is not None:
            self._server.should_exit = True


def _freeze_startup_objects() -> None:
    """Move everything alive after start-up (modules, routes, models) out of the cyclic GC.

    Those objects live as long as the process; scanning them again in every full collection
    only lengthens the pauses that a large fleet makes long anyway (measured: a third of the
    heap of a coordinator with 1,000 nodes). Garbage is collected first, so nothing leaks.
    """
    gc.collect()
    gc.freeze()

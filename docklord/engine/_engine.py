"""The :class:`Engine` facade: one object per Docker Engine, assembled from the noun modules."""

from __future__ import annotations

from docklord.engine._exec import ExecOps
from docklord.engine._images import ImageOps
from docklord.engine._networks import NetworkOps
from docklord.engine._volumes import VolumeOps

__all__ = ["Engine"]


class Engine(ExecOps, ImageOps, VolumeOps, NetworkOps):
    """An async client for one Docker Engine, returning typed, frozen values.

    Use it as an async context manager (``async with Engine(address) as engine``), which
    connects (negotiating the API version) and closes every connection at the end; or call
    :meth:`connect` and :meth:`aclose` yourself. Calls made before ``connect`` connect first.

    Args:
        docker_host: ``unix:///path/docker.sock`` or ``tcp://host:port``. ``None`` reads the
            ``DOCKER_HOST`` environment variable, then falls back to
            ``unix:///var/run/docker.sock`` (the only place the engine layer reads the
            environment).
        timeout: seconds to connect, and to wait for a short request; streams and calls whose
            duration the engine decides (stop, restart) have no read deadline.

    Raises:
        ConfigError: the address is neither ``unix://`` nor ``tcp://``.

    Container references (``ref``) accept a full id, a unique id prefix or a name. Every
    error is one of :mod:`docklord.errors`: ``NotFound``, ``Conflict``, ``InvalidInput``,
    ``EngineError``, and ``EngineUnavailable`` (with the address) when the engine cannot be
    reached.
    """

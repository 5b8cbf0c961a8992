"""Volumes: the node's ``volumes.*`` request methods."""

from __future__ import annotations

from docklord.engine import Engine
from docklord.node._handlers import ChannelHandler, Method, label_filters, serve, to_json
from docklord.protocol import methods as m
from docklord.protocol.methods import Json

__all__ = ["channels", "methods"]


class _Volumes:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def table(self) -> dict[str, Method]:
        return dict(
            [
                serve(m.VOLUMES_LIST, self.list_volumes),
                serve(m.VOLUMES_CREATE, self.create_volume),
                serve(m.VOLUMES_REMOVE, self.remove_volume),
                serve(m.VOLUMES_PRUNE, self.prune_volumes),
            ]
        )

    async def list_volumes(self, args: m.NoArgs) -> Json:
        return {"volumes": to_json(await self.engine.list_volumes())}

    async def create_volume(self, args: m.VolumeCreateArgs) -> Json:
        volume = await self.engine.create_volume(args.name, labels=args.labels, driver=args.driver)
        doc: Json = to_json(volume)
        return doc

    async def remove_volume(self, args: m.VolumeRemoveArgs) -> Json:
        await self.engine.remove_volume(args.name, force=args.force)
        return {"name": args.name}

    async def prune_volumes(self, args: m.PruneArgs) -> Json:
        doc: Json = to_json(await self.engine.prune_volumes(filters=label_filters(args)))
        return doc


def methods(engine: Engine) -> dict[str, Method]:
    """Request methods of this module: ``volumes.*``."""
    return _Volumes(engine).table()


def channels(engine: Engine) -> dict[str, ChannelHandler]:
    """Channel kinds of this module: none."""
    return {}

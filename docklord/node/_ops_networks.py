"""Networks: the node's ``networks.*`` request methods."""

from __future__ import annotations

from docklord.engine import Engine
from docklord.errors import Conflict, EngineError
from docklord.node._handlers import ChannelHandler, Method, label_filters, serve, to_json
from docklord.protocol import methods as m
from docklord.protocol import resolve_ref
from docklord.protocol.methods import Json

__all__ = ["channels", "methods"]


class _Networks:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def table(self) -> dict[str, Method]:
        return dict(
            [
                serve(m.NETWORKS_LIST, self.list_networks),
                serve(m.NETWORKS_CREATE, self.create_network),
                serve(m.NETWORKS_REMOVE, self.remove_network),
                serve(m.NETWORKS_PRUNE, self.prune_networks),
            ]
        )

    async def list_networks(self, args: m.NoArgs) -> Json:
        return {"networks": to_json(await self.engine.list_networks())}

    async def create_network(self, args: m.NetworkCreateArgs) -> Json:
        network = await self.engine.create_network(
            args.name, driver=args.driver, labels=args.labels, internal=args.internal
        )
        doc: Json = to_json(network)
        return doc

    async def remove_network(self, args: m.RefArgs) -> Json:
        ref = args.ref
        resolve_ref(
            ref,
            await self.engine.list_networks(),
            kind="network",
            id_of=lambda n: n.id,
            names_of=lambda n: (n.name,),
            describe=lambda n: {"id": n.id, "name": n.name},
        )
        try:
            await self.engine.remove_network(ref)
        except EngineError as exc:
            # The engine answers 403 while containers are attached: a conflict of state.
            if exc.details.get("status") == 403:
                raise Conflict(f"network {ref} is in use: {exc.message}") from exc
            raise
        return {"ref": ref}

    async def prune_networks(self, args: m.PruneArgs) -> Json:
        doc: Json = to_json(await self.engine.prune_networks(filters=label_filters(args)))
        return doc


def methods(engine: Engine) -> dict[str, Method]:
    """Request methods of this module: ``networks.*``."""
    return _Networks(engine).table()


def channels(engine: Engine) -> dict[str, ChannelHandler]:
    """Channel kinds of this module: none."""
    return {}

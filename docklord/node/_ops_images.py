"""Images: the node's ``images.*`` request methods and the ``images.pull`` channel.

Pulls stream their progress over an ``images.pull`` channel, one JSON document per line.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator

from docklord.engine import Engine
from docklord.link import Channel
from docklord.model import ImageSummary
from docklord.node._handlers import (
    ChannelHandler,
    Method,
    label_filters,
    serve,
    serve_channel,
    to_json,
)
from docklord.protocol import methods as m
from docklord.protocol import resolve_ref
from docklord.protocol.methods import Json

__all__ = ["channels", "methods"]


class _Images:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def table(self) -> dict[str, Method]:
        return dict(
            [
                serve(m.IMAGES_LIST, self.list_images),
                serve(m.IMAGES_REMOVE, self.remove_image),
                serve(m.IMAGES_PRUNE, self.prune_images),
            ]
        )

    async def list_images(self, args: m.NoArgs) -> Json:
        return {"images": to_json(await self.engine.list_images())}

    async def remove_image(self, args: m.ImageRemoveArgs) -> m.ImageRemoved:
        # The engine takes any id prefix, even "b": the one resolver decides what ref names
        # (4+ characters, unique), then the engine gets the ref as typed (a tag untags).
        resolve_ref(
            args.ref,
            await self.engine.list_images(),
            kind="image",
            id_of=lambda i: i.id,
            names_of=_image_names,
            describe=lambda i: {"id": i.id, "names": list(i.repo_tags)},
        )
        return m.ImageRemoved(await self.engine.remove_image(args.ref, force=args.force))

    async def prune_images(self, args: m.PruneArgs) -> Json:
        result = await self.engine.prune_images(
            dangling_only=args.dangling, filters=label_filters(args)
        )
        doc: Json = to_json(result)
        return doc

    async def pull(self, channel: Channel, args: m.PullArgs) -> None:
        """Pull an image, sending each progress message as one JSON line.

        The engine's error message is not forwarded: the pull's error closes the channel.
        """
        ref = args.image
        pulled = self.engine.pull(ref)
        try:
            async for item in pulled:
                if item.error:
                    continue
                line = json.dumps(to_json(item), separators=(",", ":")) + "\n"
                await channel.send(line.encode())
        finally:
            # Ends the engine's request at once when the coordinator went away.
            if isinstance(pulled, AsyncGenerator):
                await pulled.aclose()


def methods(engine: Engine) -> dict[str, Method]:
    """Request methods of this module: ``images.*``."""
    return _Images(engine).table()


def channels(engine: Engine) -> dict[str, ChannelHandler]:
    """Channel kinds of this module: ``images.pull``."""
    return dict([serve_channel(m.IMAGES_PULL, _Images(engine).pull)])


def _image_names(image: ImageSummary) -> set[str]:
    """What names an image: its tags (``:latest`` may be left out) and digests."""
    tags = set(image.repo_tags)
    return tags | {t.removesuffix(":latest") for t in tags} | set(image.repo_digests)

"""Volumes: list, create, remove, prune."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from docklord.engine._client import EngineClient, check_ref, filters_param
from docklord.engine._parse import parse_time, str_map
from docklord.model import PruneResult, VolumeSummary

__all__ = ["VolumeOps"]


def _volume(doc: Mapping[str, Any]) -> VolumeSummary:
    return VolumeSummary(
        name=str(doc.get("Name", "")),
        driver=str(doc.get("Driver", "")),
        mountpoint=str(doc.get("Mountpoint", "")),
        labels=str_map(doc.get("Labels")),
        created=parse_time(doc.get("CreatedAt")),
    )


class VolumeOps(EngineClient):
    """Volume operations of :class:`~docklord.engine.Engine`."""

    async def list_volumes(self) -> list[VolumeSummary]:
        """Every volume the engine knows."""
        data = await self._json("GET", "volumes")
        return [_volume(doc) for doc in data.get("Volumes") or ()]

    async def create_volume(
        self,
        name: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
        driver: str = "local",
    ) -> VolumeSummary:
        """Create a volume (``None`` lets the engine name it).

        Creating a volume whose name exists returns the existing one, as the engine does.
        """
        body: dict[str, Any] = {"Driver": driver, "Labels": dict(labels or {})}
        if name is not None:
            body["Name"] = check_ref("volume", name)
        return _volume(await self._json("POST", "volumes/create", body=body))

    async def remove_volume(self, name: str, *, force: bool = False) -> None:
        """Remove a volume.

        Raises:
            NotFound: no such volume.
            Conflict: a container uses it.
        """
        check_ref("volume", name)
        params = {"force": force}
        await self._json("DELETE", f"volumes/{name}", params=params, kind="volume", ref=name)

    async def prune_volumes(
        self, *, filters: Mapping[str, Sequence[str]] | None = None
    ) -> PruneResult:
        """Remove the volumes no container uses (from API 1.42 on, only anonymous ones
        unless ``filters={"all": ["true"]}``).

        Args:
            filters: engine filters (``label``) to narrow the prune.
        """
        params = {"filters": filters_param(filters)} if filters else {}
        data = await self._json("POST", "volumes/prune", params=params, slow=True)
        return PruneResult(
            deleted=tuple(str(v) for v in data.get("VolumesDeleted") or ()),
            space_reclaimed=int(data.get("SpaceReclaimed") or 0),
        )

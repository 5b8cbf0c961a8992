"""Networks: list, create, remove, prune."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from docklord.engine._client import EngineClient, check_ref, filters_param
from docklord.engine._parse import str_map
from docklord.model import NetworkSummary, PruneResult

__all__ = ["NetworkOps"]


def _network(doc: Mapping[str, Any]) -> NetworkSummary:
    return NetworkSummary(
        id=str(doc.get("Id", "")),
        name=str(doc.get("Name", "")),
        driver=str(doc.get("Driver", "")),
        scope=str(doc.get("Scope", "")),
        labels=str_map(doc.get("Labels")),
        internal=bool(doc.get("Internal", False)),
    )


class NetworkOps(EngineClient):
    """Network operations of :class:`~docklord.engine.Engine`."""

    async def list_networks(self) -> list[NetworkSummary]:
        """Every network the engine knows (including ``bridge``, ``host`` and ``none``)."""
        return [_network(doc) for doc in await self._json("GET", "networks")]

    async def create_network(
        self,
        name: str,
        *,
        driver: str = "bridge",
        labels: Mapping[str, str] | None = None,
        internal: bool = False,
    ) -> NetworkSummary:
        """Create a network.

        Raises:
            Conflict: a network has this name.
        """
        body = {
            "Name": check_ref("network", name),
            "Driver": driver,
            "Labels": dict(labels or {}),
            "Internal": internal,
            "CheckDuplicate": True,
        }
        created = await self._json("POST", "networks/create", body=body)
        network_id = str(created["Id"])
        doc = await self._json("GET", f"networks/{network_id}", kind="network", ref=network_id)
        return _network(doc)

    async def remove_network(self, ref: str) -> None:
        """Remove a network by id or name.

        Raises:
            NotFound: no such network.
            EngineError: containers are still attached (the engine answers 403).
        """
        check_ref("network", ref)
        await self._json("DELETE", f"networks/{ref}", kind="network", ref=ref)

    async def prune_networks(
        self, *, filters: Mapping[str, Sequence[str]] | None = None
    ) -> PruneResult:
        """Remove the networks no container uses (the predefined ``bridge``, ``host`` and
        ``none`` never go).

        Args:
            filters: engine filters (``label``, ``until``) to narrow the prune.

        Returns:
            The names of the removed networks; networks take no space, so
            ``space_reclaimed`` is 0.
        """
        params = {"filters": filters_param(filters)} if filters else {}
        data = await self._json("POST", "networks/prune", params=params, slow=True)
        return PruneResult(
            deleted=tuple(str(n) for n in data.get("NetworksDeleted") or ()), space_reclaimed=0
        )

"""How an instance container is recognised: the labels and the name the node gives it.

Both ends rely on these: the node writes them when it creates an instance and reads its
allocations back from them, the coordinator's API hides such containers from the containers
routes (``docklord.web._container_policy``).
"""

from __future__ import annotations

__all__ = ["INSTANCE_LABEL", "NAME_PREFIX", "OWNER_LABEL", "PORTS_LABEL"]

#: Labels of an instance container: its id, its owner, and the first port of its block.
INSTANCE_LABEL = "docklord.instance"
OWNER_LABEL = "docklord.instance.owner"
PORTS_LABEL = "docklord.instance.ports"
#: An instance container's name is this prefix and the instance id.
NAME_PREFIX = "docklord-instance-"

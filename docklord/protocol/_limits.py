"""The one table of limits on what a node may send over the link (STYLE item 17).

A node is trusted to speak for its own engine, not to be well-behaved: a buggy or hostile one
could report a 10 MB host name, ``NaN`` as a creation time or a million labels, and the
coordinator stores and serves whatever it keeps. Both ends use this table: the node clips what
it puts on the wire (``summary_to_proto``, ``engine_info_to_proto``), the coordinator clips what
it takes off the wire (``clean_envelope``, ``check_hello``), so an honest node never sees its data
changed by the coordinator.

The rules, the same for every field:

- **identity and credentials** (``Hello.node_id``, ``proof``, ``enroll_token``): out of bounds
  means the handshake is rejected (``Reject{reason: "invalid"}``); they are never shortened.
- **descriptive strings** (names, versions, messages, label values): cut to their limit.
- **maps and lists** (labels, attributes, ports, containers, events): entries past the limit are
  dropped; an entry whose key is too long is dropped too (a cut key could collide).
- **numbers**: a time that is not finite or not between 1970 and 9999 becomes "unknown" (0 or
  absent); a port outside 1-65535 is dropped (or unpublished, for a host port).
"""

from __future__ import annotations

import re

__all__ = [
    "MAX_CONTAINERS",
    "MAX_ENROLL_TOKEN",
    "MAX_EVENTS",
    "MAX_MAP_ENTRIES",
    "MAX_MAP_KEY",
    "MAX_MAP_VALUE",
    "MAX_NODE_ID",
    "MAX_PORTS",
    "MAX_SECRET",
    "MAX_TIME",
    "NODE_ID_PATTERN",
    "STRING_LIMITS",
]

#: Node ids: what the store accepts (``docklord.store`` checks the same pattern).
MAX_NODE_ID = 128
NODE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
#: ``Hello.proof``: a node secret (the store refuses longer ones).
MAX_SECRET = 1024
#: ``Hello.enroll_token``: tokens are 43 characters; anything much longer is not one.
MAX_ENROLL_TOKEN = 256

#: Labels (``ContainerSummary.labels``) and event attributes (``Event.attributes``).
MAX_MAP_ENTRIES = 512
MAX_MAP_KEY = 1024
MAX_MAP_VALUE = 16 * 1024
#: Port bindings per container (a published range of 1,000 ports is 1,000 bindings).
MAX_PORTS = 4096
#: Containers in one snapshot, events in one batch or in a snapshot's journal.
MAX_CONTAINERS = 100_000
MAX_EVENTS = 100_000
#: The latest time a node may report, in Unix seconds (9999-12-31T23:59:59Z): later ones
#: cannot be written as dates.
MAX_TIME = 253_402_300_799.0

_SHORT = 255
_VERSION = 64
_TEXT = 4096

#: The longest value of each string field, by message and field name.
STRING_LIMITS: dict[str, dict[str, int]] = {
    "Hello": {"agent_version": _VERSION, "hostname": _SHORT},
    "EngineInfo": {
        "version": _VERSION,
        "api_version": _VERSION,
        "min_api_version": _VERSION,
        "os": _SHORT,
        "arch": _VERSION,
        "kernel_version": _SHORT,
        "name": _SHORT,
    },
    "EngineStatus": {"message": _TEXT},
    "ContainerSummary": {
        "id": 128,
        "name": _SHORT,
        "image": 1024,
        "image_id": 256,
        "command": _TEXT,
        "state": 32,
        "status": _SHORT,
    },
    "PortBinding": {"protocol": 16, "host_ip": 64},
    # Docker's exec actions carry the command line ("exec_start: sh -c ...").
    "Event": {"type": 32, "action": _TEXT, "actor_id": 1024},
    "Error": {"code": 64, "message": _TEXT},
}

"""The node link's wire format: the generated messages, the codec and the domain conversions.

The contract is ``docklord.proto`` in this package; ``docklord_pb2`` is generated from it by
``scripts/gen-proto`` and never edited by hand. Everything else in Docklord imports the
messages from here, encodes and decodes frames with :func:`encode`/:func:`decode`, and converts
between domain values and messages only with the ``*_to_proto``/``*_from_proto`` functions.
What a node may send is bounded by the one table of limits (``MAX_*``, ``STRING_LIMITS``),
enforced by :func:`check_hello` and :func:`clean_envelope`.

The node request methods (names, typed arguments and results) are the submodule
:mod:`docklord.protocol.methods`, used by both ends of a request.

Note that ``ContainerSummary``, ``EngineInfo`` and ``PortBinding`` here are the *wire*
messages; the domain types of the same names live in ``docklord.model``.
"""

from __future__ import annotations

from docklord.protocol._codec import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    decode,
    dump_json,
    encode,
    load_json,
)
from docklord.protocol._convert import (
    check_hello,
    clean_envelope,
    engine_info_from_proto,
    engine_info_to_proto,
    error_from_proto,
    error_to_proto,
    summary_from_proto,
    summary_to_proto,
)
from docklord.protocol._journal import EventJournal
from docklord.protocol._limits import (
    MAX_CONTAINERS,
    MAX_ENROLL_TOKEN,
    MAX_EVENTS,
    MAX_MAP_ENTRIES,
    MAX_MAP_KEY,
    MAX_MAP_VALUE,
    MAX_NODE_ID,
    MAX_PORTS,
    MAX_SECRET,
    MAX_TIME,
    NODE_ID_PATTERN,
    STRING_LIMITS,
)
from docklord.protocol.docklord_pb2 import (
    Batch,
    Cancel,
    ChannelClose,
    ChannelCredit,
    ChannelData,
    ChannelOpen,
    ContainerSummary,
    EngineInfo,
    EngineStatus,
    Envelope,
    Error,
    Event,
    EventBatch,
    Hello,
    Ping,
    Pong,
    PortBinding,
    Reject,
    Request,
    Response,
    Snapshot,
    Welcome,
)

__all__ = [
    "MAX_CONTAINERS",
    "MAX_ENROLL_TOKEN",
    "MAX_EVENTS",
    "MAX_FRAME_BYTES",
    "MAX_MAP_ENTRIES",
    "MAX_MAP_KEY",
    "MAX_MAP_VALUE",
    "MAX_NODE_ID",
    "MAX_PORTS",
    "MAX_SECRET",
    "MAX_TIME",
    "NODE_ID_PATTERN",
    "PROTOCOL_VERSION",
    "STRING_LIMITS",
    "Batch",
    "Cancel",
    "ChannelClose",
    "ChannelCredit",
    "ChannelData",
    "ChannelOpen",
    "ContainerSummary",
    "EngineInfo",
    "EngineStatus",
    "Envelope",
    "Error",
    "Event",
    "EventJournal",
    "EventBatch",
    "Hello",
    "Ping",
    "Pong",
    "PortBinding",
    "Reject",
    "Request",
    "Response",
    "Snapshot",
    "Welcome",
    "check_hello",
    "clean_envelope",
    "decode",
    "dump_json",
    "encode",
    "engine_info_from_proto",
    "engine_info_to_proto",
    "error_from_proto",
    "error_to_proto",
    "load_json",
    "summary_from_proto",
    "summary_to_proto",
]

# Resource samples (the StatsBatch frame), kept in their own module.
from docklord.protocol._stats import (  # noqa: E402
    stats_batch_to_proto,
    stats_from_proto,
    stats_to_proto,
)
from docklord.protocol.docklord_pb2 import ContainerStats, StatsBatch  # noqa: E402

__all__ += [
    "ContainerStats",
    "StatsBatch",
    "stats_batch_to_proto",
    "stats_from_proto",
    "stats_to_proto",
]

# The frame format of a link channel (stream numbers, control frames), in its own module.
from docklord.protocol._channels import (  # noqa: E402
    COMMAND_TIMEOUT,
    CONTROL,
    EOF,
    MAX_COMMAND,
    PLAIN,
    READY,
    STDERR,
    STDOUT,
    control,
    parse_control,
)

__all__ += [
    "COMMAND_TIMEOUT",
    "CONTROL",
    "EOF",
    "MAX_COMMAND",
    "PLAIN",
    "READY",
    "STDERR",
    "STDOUT",
    "control",
    "parse_control",
]

# How a ref names one object (the id-prefix and ambiguity rules both ends apply).
from docklord.protocol._refs import (  # noqa: E402
    MAX_REF_CANDIDATES,
    MIN_ID_PREFIX,
    resolve_ref,
)

__all__ += ["MAX_REF_CANDIDATES", "MIN_ID_PREFIX", "resolve_ref"]

"""The public surface of docklord.protocol is pinned (STYLE item 1)."""

from __future__ import annotations

from google.protobuf.message import Message

import docklord.protocol

#: The resource-sample frame and its conversions (docklord/protocol/_stats.py).
STATS_EXPORTS = [
    "ContainerStats",
    "StatsBatch",
    "stats_batch_to_proto",
    "stats_from_proto",
    "stats_to_proto",
]
#: The frame format of a link channel (docklord/protocol/_channels.py).
CHANNEL_EXPORTS = [
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

#: The ref resolver (docklord/protocol/_refs.py).
REF_EXPORTS = ["MAX_REF_CANDIDATES", "MIN_ID_PREFIX", "resolve_ref"]


def test_protocol_exports() -> None:
    assert sorted(docklord.protocol.__all__) == sorted(
        [
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
        + STATS_EXPORTS
        + CHANNEL_EXPORTS
        + REF_EXPORTS
    )


def test_every_function_is_documented() -> None:
    for name in docklord.protocol.__all__:
        member = getattr(docklord.protocol, name)
        is_message = isinstance(member, type) and issubclass(member, Message)
        if callable(member) and not is_message:  # generated messages carry no docstrings
            assert member.__doc__, f"docklord.protocol.{name} has no docstring"

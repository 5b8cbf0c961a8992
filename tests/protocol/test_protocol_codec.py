"""The wire format: frame codec, JSON documents and the domain <-> message conversions."""

from __future__ import annotations

import math

import pytest

from docklord.errors import (
    Conflict,
    DocklordError,
    HandshakeRejected,
    InvalidInput,
    LinkClosed,
    NotFound,
    RequestTimeout,
)
from docklord.model import ContainerSummary, EngineInfo, PortBinding
from docklord.protocol import (
    PROTOCOL_VERSION,
    ChannelData,
    Envelope,
    Error,
    Hello,
    Request,
    Response,
    decode,
    dump_json,
    encode,
    engine_info_from_proto,
    engine_info_to_proto,
    error_from_proto,
    error_to_proto,
    load_json,
    summary_from_proto,
    summary_to_proto,
)
from docklord.protocol import ContainerSummary as ContainerSummaryMessage

ENGINE = EngineInfo(
    version="24.0.7",
    api_version="1.43",
    min_api_version="1.12",
    os="linux",
    arch="amd64",
    kernel_version="6.1.0",
    name="host-1",
    containers=12,
    images=7,
)


def test_protocol_version() -> None:
    assert PROTOCOL_VERSION == 1


@pytest.mark.parametrize(
    "env",
    [
        Envelope(request_id=7, request=Request(method="containers.list", args=b'{"all":true}')),
        Envelope(request_id=7, response=Response(error=Error(code="not_found", message="x"))),
        Envelope(channel_data=ChannelData(channel_id=3, data=b"\x00\xff" * 1000, stream=2)),
        Envelope(
            hello=Hello(node_id="n1", protocol_version=1, engine=engine_info_to_proto(ENGINE))
        ),
        Envelope(),
    ],
)
def test_frames_round_trip(env: Envelope) -> None:
    data = encode(env)
    assert isinstance(data, bytes)
    assert decode(data) == env


def test_undecodable_frames_are_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="undecodable link frame"):
        decode(b"\xff\xff\xff")


@pytest.mark.parametrize(
    "value", [None, 0, -1.5, "é\u2028", [1, [2, {}]], {"a": None, "b": True}, {"n": 2**60}]
)
def test_json_round_trip(value: object) -> None:
    assert load_json(dump_json(value)) == value


def test_json_none_is_empty() -> None:
    assert dump_json(None) == b""
    assert load_json(b"") is None
    assert dump_json({"a": 1}) == b'{"a":1}'


@pytest.mark.parametrize("value", [object(), {1, 2}, math.nan, math.inf, {"x": b"bytes"}])
def test_json_refuses_what_is_not_json(value: object) -> None:
    with pytest.raises(InvalidInput, match="not JSON-serializable"):
        dump_json(value)


@pytest.mark.parametrize("data", [b"{", b"\xff", b"NaN-ish"])
def test_invalid_json_is_invalid_input(data: bytes) -> None:
    with pytest.raises(InvalidInput, match="invalid JSON"):
        load_json(data)


def test_summary_round_trip_with_every_field() -> None:
    summary = ContainerSummary(
        id="c" * 64,
        name="web",
        image="nginx:1.25",
        image_id="sha256:abc",
        command="nginx -g 'daemon off;'",
        state="exited",
        status="Exited (137) 2 minutes ago",
        created=1_700_000_000.5,
        started_at=1_700_000_001.25,
        finished_at=1_700_000_100.0,
        exit_code=137,
        ports=(
            PortBinding(80, "tcp", "127.0.0.1", 8080),
            PortBinding(53, "udp"),
        ),
        labels={"docklord.test": "1", "app": "web"},
    )
    assert summary_from_proto(summary_to_proto(summary)) == summary


def test_summary_optional_fields_keep_their_presence() -> None:
    never_started = ContainerSummary(id="a", name="n", image="i")
    message = summary_to_proto(never_started)
    assert not message.HasField("started_at")
    assert not message.HasField("finished_at")
    assert not message.HasField("exit_code")
    assert summary_from_proto(message) == never_started

    # Zero is a real value (epoch time, exit code 0), not "absent".
    zeroes = ContainerSummary(id="a", name="n", image="i", started_at=0.0, exit_code=0)
    message = ContainerSummaryMessage.FromString(encode_summary(zeroes))
    assert message.HasField("started_at") and message.HasField("exit_code")
    assert summary_from_proto(message) == zeroes


def encode_summary(summary: ContainerSummary) -> bytes:
    return summary_to_proto(summary).SerializeToString()


def test_unpublished_ports_have_no_host_port() -> None:
    summary = ContainerSummary(id="a", name="n", image="i", ports=(PortBinding(22),))
    message = summary_to_proto(summary)
    assert message.ports[0].host_port == 0
    assert summary_from_proto(message).ports == (PortBinding(22, "tcp", "", None),)


def test_engine_info_round_trip() -> None:
    assert engine_info_from_proto(engine_info_to_proto(ENGINE)) == ENGINE


@pytest.mark.parametrize(
    "error",
    [
        NotFound("no such container: web", details={"ref": "web"}),
        Conflict("ambiguous reference", details={"matches": ["abc1", "abc2"]}),
        RequestTimeout("too slow"),
        LinkClosed("gone"),
        InvalidInput("bad"),
        DocklordError("internal"),
    ],
)
def test_errors_round_trip_with_their_class(error: DocklordError) -> None:
    back = error_from_proto(Error.FromString(error_to_proto(error).SerializeToString()))
    assert type(back) is type(error)
    assert (back.code, back.message, back.details) == (error.code, error.message, error.details)


def test_handshake_rejection_keeps_its_class() -> None:
    back = error_from_proto(error_to_proto(HandshakeRejected("revoked", reason="revoked")))
    assert isinstance(back, HandshakeRejected)


def test_unknown_error_codes_become_the_base_class() -> None:
    back = error_from_proto(Error(code="from_the_future", message="new"))
    assert type(back) is DocklordError
    assert back.message == "new"
    assert type(error_from_proto(Error(message="no code"))) is DocklordError


@pytest.mark.parametrize("details", [b"{broken", b"[1, 2]"])
def test_bad_error_details_are_dropped_not_raised(details: bytes) -> None:
    back = error_from_proto(Error(code="not_found", message="m", details=details))
    assert isinstance(back, NotFound)
    assert back.details == {}

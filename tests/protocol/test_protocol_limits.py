"""The decoder and the boundary checks: arbitrary input never raises past them (hypothesis)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docklord import model as domain
from docklord.coordinator import container_json, event_json
from docklord.errors import InvalidInput
from docklord.protocol import (
    MAX_TIME,
    STRING_LIMITS,
    ContainerSummary,
    Envelope,
    Event,
    EventBatch,
    Snapshot,
    clean_envelope,
    decode,
    load_json,
    summary_from_proto,
    summary_to_proto,
)

BOUNDED = settings(max_examples=300, deadline=None)


def _served(env: Envelope) -> None:
    """Everything the coordinator would serve from ``env``, as strict JSON."""
    summaries: list[ContainerSummary] = []
    events: list[Event] = []
    if env.WhichOneof("body") == "snapshot":
        summaries.extend(env.snapshot.containers)
        events.extend(env.snapshot.journal)
    elif env.WhichOneof("body") == "events":
        events.extend(env.events.events)
    for summary in summaries:
        json.dumps(container_json("n", summary_from_proto(summary)), allow_nan=False)
    for event in events:
        json.dumps(event_json("n", event), allow_nan=False)


@BOUNDED
@given(st.binary(max_size=512))
def test_arbitrary_bytes_decode_or_raise_invalid_input(data: bytes) -> None:
    try:
        env = decode(data)
    except InvalidInput:
        return
    clean_envelope(env)
    _served(env)


times = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([MAX_TIME + 1, -1.0])


@BOUNDED
@given(
    created=times,
    started=times,
    finished=times,
    time_nano=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    port=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_any_number_a_node_sends_is_served_as_strict_json(
    created: float, started: float, finished: float, time_nano: int, port: int
) -> None:
    summary = ContainerSummary(id="c1", created=created, started_at=started, finished_at=finished)
    summary.ports.add(private_port=port, host_port=port)
    event = Event(seq=1, type="container", time_nano=time_nano, container=summary)
    for env in (
        Envelope(snapshot=Snapshot(containers=[summary], journal=[event])),
        Envelope(events=EventBatch(events=[event])),
    ):
        clean_envelope(env)
        _served(env)


def test_clean_envelope_clips_strings_and_maps() -> None:
    summary = ContainerSummary(id="x" * 500, name="n" * 10_000, labels={"k" * 2000: "v"})
    env = Envelope(events=EventBatch(events=[Event(seq=1, action="a" * 10**5, container=summary)]))
    clean_envelope(env)
    (event,) = env.events.events
    assert len(event.action) == STRING_LIMITS["Event"]["action"]
    assert len(event.container.id) == STRING_LIMITS["ContainerSummary"]["id"]
    assert len(event.container.name) == STRING_LIMITS["ContainerSummary"]["name"]
    assert dict(event.container.labels) == {}


def test_the_node_side_clips_with_the_same_table() -> None:
    summary = domain.ContainerSummary(
        id="c",
        name="n" * 1000,
        image="i",
        image_id="",
        command="",
        state="running",
        status="",
        created=float("nan"),
        started_at=float("inf"),
        finished_at=None,
        exit_code=None,
        ports=(),
        labels={"a": "b"},
    )
    msg = summary_to_proto(summary)
    assert len(msg.name) == STRING_LIMITS["ContainerSummary"]["name"]
    assert msg.created == 0.0 and not msg.HasField("started_at")


@pytest.mark.parametrize("doc", [b'{"x": NaN}', b"[Infinity]", b"-Infinity", b"[" * 100_000])
def test_load_json_refuses_what_an_api_response_cannot_carry(doc: bytes) -> None:
    with pytest.raises(InvalidInput):
        load_json(doc)

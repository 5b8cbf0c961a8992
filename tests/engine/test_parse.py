"""Pure conversions of engine JSON (no engine needed)."""

from __future__ import annotations

import pytest

from docklord.engine._parse import (
    container_summary_from_inspect,
    container_summary_from_list,
    human_duration,
    parse_time,
)
from docklord.model import PortBinding


def test_parse_time_keeps_sub_second_precision_and_zones() -> None:
    assert parse_time("2024-01-01T00:00:00Z") == 1704067200.0
    assert parse_time("2024-01-01T00:00:00.123456789Z") == pytest.approx(1704067200.123456789)
    assert parse_time("2024-01-01T02:00:00.5+02:00") == 1704067200.5
    for empty in ("0001-01-01T00:00:00Z", "", None, "yesterday"):
        assert parse_time(empty) is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.4, "Less than a second"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (61 * 60, "About an hour"),
        (5 * 3600, "5 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (90 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration_matches_the_engine(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_summary_from_list_reads_exit_code_from_status() -> None:
    summary = container_summary_from_list(
        {
            "Id": "abc",
            "Names": ["/web"],
            "Image": "nginx",
            "State": "exited",
            "Status": "Exited (3) 2 minutes ago",
            "Created": 1700000000,
            "Ports": [{"PrivatePort": 80, "Type": "tcp"}],
            "Labels": None,
        }
    )
    assert (summary.name, summary.exit_code, summary.labels) == ("web", 3, {})
    assert summary.ports == (PortBinding(80),)
    assert summary.started_at is None


def test_summary_from_inspect_of_a_created_container() -> None:
    doc = {
        "Id": "abc",
        "Name": "/box",
        "Created": "2024-01-01T00:00:00Z",
        "Path": "sleep",
        "Args": ["5"],
        "State": {
            "Status": "created",
            "ExitCode": 0,
            "StartedAt": "0001-01-01T00:00:00Z",
            "FinishedAt": "0001-01-01T00:00:00Z",
        },
        "Config": {"Image": "busybox", "ExposedPorts": {"80/tcp": {}}, "Labels": {"a": "b"}},
        "NetworkSettings": {"Ports": {}},
    }
    summary = container_summary_from_inspect(doc)
    assert (summary.name, summary.command, summary.status) == ("box", "sleep 5", "Created")
    assert (summary.started_at, summary.finished_at, summary.exit_code) == (None, None, None)
    assert summary.ports == (PortBinding(80),) and summary.created == 1704067200.0
    assert summary.restart_count == 0
    assert container_summary_from_inspect({**doc, "RestartCount": 4}).restart_count == 4
    assert container_summary_from_inspect({**doc, "RestartCount": "x"}).restart_count == 0

from __future__ import annotations

import dataclasses
import time

from docklord.model import ContainerSummary, EngineEvent
from docklord.node._derive import derive_summary

RUNNING = ContainerSummary(
    id="c1", name="web", image="img", state="running", status="Up 2 minutes", started_at=1.0
)


def event(action: str, **attributes: str) -> EngineEvent:
    return EngineEvent("container", action, "c1", attributes, time_nano=time.time_ns())


def test_die_carries_the_exit_code_and_finish_time() -> None:
    after = derive_summary(RUNNING, event("die", exitCode="137"))
    assert after is not None
    assert (after.state, after.exit_code) == ("exited", 137)
    assert after.status.startswith("Exited (137) ")
    assert after.finished_at is not None and abs(after.finished_at - time.time()) < 5


def test_start_clears_the_exit_code() -> None:
    exited = derive_summary(RUNNING, event("die", exitCode="3"))
    assert exited is not None
    again = derive_summary(exited, event("start"))
    assert again is not None
    assert (again.state, again.exit_code, again.status) == (
        "running",
        None,
        "Up Less than a second",
    )


def test_pause_and_unpause() -> None:
    paused = derive_summary(RUNNING, event("pause"))
    assert paused is not None and paused.state == "paused" and paused.status.endswith("(Paused)")
    resumed = derive_summary(paused, event("unpause"))
    assert resumed is not None and resumed.state == "running"
    assert "Paused" not in resumed.status


def test_events_that_need_an_inspect() -> None:
    assert derive_summary(None, event("start")) is None  # never seen: inspect it
    assert derive_summary(RUNNING, event("rename")) is None
    assert derive_summary(RUNNING, event("die")) is None  # no exit code: inspect it


def test_a_start_by_the_policy_keeps_the_restart_count_and_one_by_hand_resets_it() -> None:
    restarting = dataclasses.replace(RUNNING, state="restarting", restart_count=2)
    again = derive_summary(restarting, event("start"))
    assert again is not None and again.restart_count == 2
    # The inspect after the death already saw it running again: still the policy's start.
    seen_running = dataclasses.replace(RUNNING, restart_count=3)
    assert (derive_summary(seen_running, event("start")) or RUNNING).restart_count == 3
    exited = dataclasses.replace(RUNNING, state="exited", restart_count=3)
    by_hand = derive_summary(exited, event("start"))
    assert by_hand is not None and by_hand.restart_count == 0  # as the engine resets it

from __future__ import annotations

import dataclasses
import time

from docklord.engine import human_duration
from docklord.model import ContainerState, ContainerSummary, EngineEvent

__all__ = ["derive_summary"]

#: States a container is in when its next ``start`` is the restart policy's.
_BY_POLICY = frozenset({ContainerState.RESTARTING.value, ContainerState.RUNNING.value})


def derive_summary(
    previous: ContainerSummary | None, event: EngineEvent
) -> ContainerSummary | None:
    """The container after ``event``, when the event alone says what changed.

    ``start``, ``die``, ``pause`` and ``unpause`` fully determine the new state, so the node
    reports them without inspecting the container: an inspect right after such an event waits
    for the engine to finish the operation (several milliseconds), which would be most of the
    latency Docklord adds. Any other event, or a container not seen before, returns ``None``
    and is inspected.

    The engine's restart count survives a ``start`` by the restart policy (the container was
    ``restarting``, or already seen running again by the inspect that follows a ``die``, see
    ``Watcher``) and is reset to 0 by a start by hand (from ``exited`` or ``created``).
    """
    if previous is None:
        return None
    at = event.time_nano / 1e9 if event.time_nano else time.time()
    if event.action == "start":
        return dataclasses.replace(
            previous,
            state=ContainerState.RUNNING.value,
            status=f"Up {human_duration(time.time() - at)}",
            started_at=at,
            exit_code=None,
            restart_count=previous.restart_count if previous.state in _BY_POLICY else 0,
        )
    if event.action == "die":
        code = _exit_code(event)
        if code is None:
            return None
        return dataclasses.replace(
            previous,
            state=ContainerState.EXITED.value,
            status=f"Exited ({code}) {human_duration(time.time() - at)} ago",
            finished_at=at,
            exit_code=code,
        )
    if event.action in ("pause", "unpause") and previous.started_at is not None:
        up = f"Up {human_duration(time.time() - previous.started_at)}"
        paused = event.action == "pause"
        return dataclasses.replace(
            previous,
            state=(ContainerState.PAUSED if paused else ContainerState.RUNNING).value,
            status=f"{up} (Paused)" if paused else up,
        )
    return None


def _exit_code(event: EngineEvent) -> int | None:
    try:
        return int(event.attributes["exitCode"])
    except (KeyError, ValueError):
        return None

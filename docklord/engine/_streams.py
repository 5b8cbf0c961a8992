"""Long-lived streams of a container or the engine: logs, stats, events."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from docklord.engine._client import filters_param
from docklord.engine._containers import ContainerOps
from docklord.engine._errors import unavailable
from docklord.engine._frames import MAX_JSON_LINE, FrameDecoder, Oversized, json_lines
from docklord.engine._parse import parse_time, str_map
from docklord.errors import Conflict, InvalidInput, NotFound
from docklord.model import OVERSIZED_EVENT, EngineEvent, LogChunk, Resume, StatsSample, split_stamp

__all__ = ["StreamOps", "engine_event", "stats_sample"]

#: Where :func:`engine_event` keeps the full action text when it had a detail part.
ACTION_DETAIL = "action_detail"


def _unix(seconds: float) -> str:
    """A timestamp the engine accepts for ``since``/``until`` (``seconds.nanoseconds``)."""
    return f"{seconds:.9f}"


def _cpu_percent(doc: Mapping[str, Any]) -> float:
    cpu = doc.get("cpu_stats") or {}
    pre = doc.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (
        pre.get("cpu_usage") or {}
    ).get("total_usage", 0)
    system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or ())
    if system_delta > 0 and cpu_delta > 0 and pre.get("system_cpu_usage"):
        return float(cpu_delta / system_delta * online * 100.0)
    return 0.0


def _cpu_total(doc: Mapping[str, Any]) -> int:
    return int(((doc.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage", 0))


def _memory(doc: Mapping[str, Any]) -> tuple[int, int]:
    memory = doc.get("memory_stats") or {}
    usage = int(memory.get("usage", 0))
    stats = memory.get("stats") or {}
    # Like the CLI: cgroup v1 reports total_inactive_file, v2 inactive_file (page cache).
    cache = stats.get("total_inactive_file", stats.get("inactive_file", 0))
    if 0 < cache < usage:
        usage -= int(cache)
    return usage, int(memory.get("limit", 0))


def _block_io(doc: Mapping[str, Any]) -> tuple[int, int]:
    read = write = 0
    entries = (doc.get("blkio_stats") or {}).get("io_service_bytes_recursive") or ()
    for entry in entries:
        op = str(entry.get("op", "")).lower()
        if op == "read":
            read += int(entry.get("value", 0))
        elif op == "write":
            write += int(entry.get("value", 0))
    return read, write


def stats_sample(doc: Mapping[str, Any]) -> StatsSample | None:
    """A :class:`StatsSample` computed like ``docker stats``; ``None`` when the engine sent
    the empty sample it uses for a container that does not run (zero ``read`` time).
    """
    read = parse_time(doc.get("read"))
    if read is None:
        return None
    usage, limit = _memory(doc)
    networks = (doc.get("networks") or {}).values()
    block_read, block_write = _block_io(doc)
    return StatsSample(
        read=read,
        cpu_percent=_cpu_percent(doc),
        memory_usage=usage,
        memory_limit=limit,
        memory_percent=usage / limit * 100.0 if limit else 0.0,
        net_rx=sum(int(n.get("rx_bytes", 0)) for n in networks),
        net_tx=sum(int(n.get("tx_bytes", 0)) for n in networks),
        block_read=block_read,
        block_write=block_write,
        pids=int((doc.get("pids_stats") or {}).get("current", 0)),
        cpu_time=_cpu_total(doc) / 1e9,
        memory_total_usage=int((doc.get("memory_stats") or {}).get("usage", 0)),
    )


def engine_event(doc: Mapping[str, Any]) -> EngineEvent:
    """An :class:`EngineEvent` from ``Type``/``Action``/``Actor``/``timeNano``/``scope``.

    Actions with a detail (``exec_start: sh -c x``, ``health_status: healthy``) are cut to the
    verb; the full action text is kept in ``attributes["action_detail"]``.
    """
    actor = doc.get("Actor") or {}
    attributes = str_map(actor.get("Attributes"))
    action = str(doc.get("Action", ""))
    verb, colon, _ = action.partition(":")
    if colon:
        attributes[ACTION_DETAIL] = action
    return EngineEvent(
        type=str(doc.get("Type", "")),
        action=verb.strip(),
        actor_id=str(actor.get("ID", "")),
        attributes=attributes,
        time_nano=int(doc.get("timeNano", 0)),
        scope=str(doc.get("scope", "local")),
    )


class StreamOps(ContainerOps):
    """Streaming operations of :class:`~docklord.engine.Engine`."""

    async def logs(
        self,
        ref: str,
        *,
        stdout: bool = True,
        stderr: bool = True,
        tail: int | None = None,
        since: float | None = None,
        until: float | None = None,
        timestamps: bool = False,
        follow: bool = False,
    ) -> AsyncIterator[LogChunk]:
        """A container's output, demultiplexed; TTY containers give only ``stdout`` chunks.

        With ``follow`` the stream stays open for new output and ends when the container
        stops. Chunk boundaries carry no meaning (see :class:`LogChunk`): split lines yourself.

        Args:
            ref: id, id prefix or name.
            stdout: include standard output.
            stderr: include standard error.
            tail: only the last ``tail`` lines (``None`` = all).
            since: only output after this Unix time.
            until: only output before this Unix time.
            timestamps: prefix every line with the engine's RFC 3339 timestamp.
            follow: keep streaming new output.

        Raises:
            NotFound: no such container.
            InvalidInput: neither stdout nor stderr was asked for.
        """
        if not (stdout or stderr):
            raise InvalidInput("logs need stdout, stderr or both")
        doc = await self._inspect(ref)
        tty = bool((doc.get("Config") or {}).get("Tty"))
        params: dict[str, Any] = {"stdout": stdout, "stderr": stderr}
        if until is not None:
            params["until"] = _unix(until)
        tail_param = "all" if tail is None else str(tail)
        if not follow:
            params.update(timestamps=timestamps, tail=tail_param, follow=False)
            if since is not None:
                params["since"] = _unix(since)
            async for chunk in self._log_pass(doc["Id"], ref, tty, params):
                yield chunk
            return
        # See docklord.model._logstamps: the engine may end a follow early. Resume after the
        # last message delivered while the container runs, then read once without follow for
        # whatever an early end left out (usually nothing).
        resume = Resume()
        while True:
            params.update(follow=follow, timestamps=True, tail="all" if resume.last else tail_param)
            params.pop("since", None)
            start = resume.since() if resume.last else since
            if start is not None:
                params["since"] = _unix(start)
            resume.restart()
            async for chunk in self._log_pass(doc["Id"], ref, tty, params, per_message=True):
                stamp, text = split_stamp(chunk.data)
                if resume.take(stamp):
                    yield chunk if timestamps else LogChunk(chunk.stream, text)
            if not follow:
                return
            follow = await self._still_running(ref, until)

    async def _still_running(self, ref: str, until: float | None) -> bool:
        if until is not None and time.time() >= until:
            return False
        try:
            state = (await self._inspect(ref)).get("State") or {}
        except NotFound:
            return False
        return bool(state.get("Running")) or bool(state.get("Restarting"))

    async def _log_pass(
        self, cid: str, ref: str, tty: bool, params: dict[str, Any], *, per_message: bool = False
    ) -> AsyncIterator[LogChunk]:
        """One logs request; with ``per_message`` one chunk per log message (frame or line)."""
        path = f"containers/{cid}/logs"
        async with self._stream("GET", path, params=params, kind="container", ref=ref) as resp:
            if tty:
                lines = bytearray()
                async for data in resp.content.iter_any():
                    if not per_message:
                        yield LogChunk("stdout", data)
                        continue
                    lines += data
                    while (end := lines.find(b"\n")) >= 0:
                        yield LogChunk("stdout", bytes(lines[: end + 1]))
                        del lines[: end + 1]
                if lines:
                    yield LogChunk("stdout", bytes(lines))
                return
            decoder = FrameDecoder(join=not per_message)
            async for data in resp.content.iter_any():
                for chunk in decoder.feed(data):
                    yield chunk
            decoder.finish()

    async def stats(self, ref: str) -> AsyncIterator[StatsSample]:
        """One sample about every second until the container stops (then the stream ends).

        The first sample has no previous CPU reading, so its ``cpu_percent`` is 0.0 (as in
        ``docker stats``). A container that does not run gives an empty stream.

        Raises:
            NotFound: no such container.
        """
        path = f"containers/{(await self._inspect(ref))['Id']}/stats"
        params = {"stream": True}
        async with self._stream("GET", path, params=params, kind="container", ref=ref) as resp:
            async for doc in json_lines(resp):
                if isinstance(doc, Oversized):
                    continue
                sample = stats_sample(doc)
                if sample is None:
                    return
                yield sample

    async def stats_once(self, ref: str) -> StatsSample:
        """One sample with a real ``cpu_percent``.

        This asks for ``stream=false`` without ``one-shot``: the engine then waits for its
        next reading (up to about 1 s) so the sample carries a previous CPU reading.

        Raises:
            NotFound: no such container.
            Conflict: the container does not run (there is nothing to sample).
        """
        path = f"containers/{(await self._inspect(ref))['Id']}/stats"
        doc = await self._json("GET", path, params={"stream": False}, kind="container", ref=ref)
        # A container removed at that moment answers with an empty body.
        sample = stats_sample(doc) if isinstance(doc, Mapping) else None
        if sample is None:
            raise Conflict(f"container {ref} is not running")
        return sample

    async def events(
        self, *, since: float | None = None, filters: Mapping[str, Sequence[str]] | None = None
    ) -> AsyncIterator[EngineEvent]:
        """The engine's events, as they happen, for as long as the engine runs.

        Args:
            since: replay events from this Unix time first (for resuming without a gap).
            filters: engine filters, for example ``{"type": ["container"]}``.

        An event longer than :data:`~docklord.engine._frames.MAX_JSON_LINE` bytes (8 MiB: its
        container's labels, an exec's command line) is skipped; an event of type
        :data:`OVERSIZED_EVENT` with ``attributes["bytes"]`` takes its place, so that the
        consumer knows it missed one and can re-read what it follows.

        Raises:
            EngineUnavailable: the engine went away (the stream never ends otherwise), so a
                supervisor can reconnect and resume with ``since``.
        """
        params: dict[str, Any] = {}
        if since is not None:
            params["since"] = _unix(since)
        if filters:
            params["filters"] = filters_param(filters)
        async with self._stream("GET", "events", params=params) as resp:
            async for doc in json_lines(resp, max_line=MAX_JSON_LINE):
                if isinstance(doc, Oversized):
                    yield EngineEvent(OVERSIZED_EVENT, "skipped", "", {"bytes": str(doc.size)})
                else:
                    yield engine_event(doc)
        raise unavailable(self.address, "the event stream ended")

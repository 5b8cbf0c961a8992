"""Delivering alert messages to webhooks: one queue and one worker per channel.

A message is tried up to the channel's ``max_attempts`` times, each attempt bounded by its
``timeout``, waiting ``backoff`` seconds before the first retry and twice as long before each
next one (at most ``MAX_BACKOFF``). Only a 2xx answer counts as delivered. Every attempt is
recorded in the store (status code or error, time). Each channel has its own worker and a
bounded queue, so a receiver that fails or hangs delays only its own messages: never the
evaluator (which only enqueues), other channels or the rest of the coordinator. A full queue
drops the message with a warning (its alert is still recorded and shown by the API).

The channel URL is a credential (Slack's incoming webhook URLs are): it is never logged, and
errors are recorded by their type and the URL's scheme and host only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from docklord.store import Alert, AlertChannel, AlertDelivery, Store

__all__ = ["MAX_BACKOFF", "QUEUE_SIZE", "Deliverer", "Message", "public_url"]

log = structlog.get_logger(__name__)

# httpx logs every request with its full URL at INFO, and a webhook URL is a credential.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)

QUEUE_SIZE = 1000
MAX_BACKOFF = 300.0

#: Builds the JSON body of a message for a channel type (``webhook`` or ``slack``).
Render = Callable[["Message", str], Mapping[str, Any]]
#: Told of each attempt once it is recorded (the events stream shows it to admins).
AttemptObserver = Callable[[Alert, AlertDelivery], None]


def public_url(url: str) -> str:
    """What may be shown of a webhook URL: its scheme and host (the rest may be a secret)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


@dataclass(frozen=True, slots=True)
class Message:
    """One alert transition to send: ``event`` is ``firing`` or ``resolved``."""

    alert: Alert
    event: str
    body: Mapping[str, Any]


class _Worker:
    def __init__(self, channel: AlertChannel, deliverer: Deliverer) -> None:
        self.channel = channel
        self.queue: asyncio.Queue[Message] = asyncio.Queue(QUEUE_SIZE)
        self.task = asyncio.create_task(self._run(deliverer), name=f"alert-channel-{channel.id}")

    async def _run(self, deliverer: Deliverer) -> None:
        while True:
            message = await self.queue.get()
            try:
                await deliverer.deliver(self.channel, message)
            except Exception as exc:
                # A bug in one delivery must not stop the channel's later messages.
                log.error("alerts.delivery_failed", channel=self.channel.id, error=repr(exc))


class Deliverer:
    """Sends alert messages to channels; see the module docstring."""

    def __init__(
        self, store: Store, render: Render, observe: AttemptObserver | None = None
    ) -> None:
        self._store = store
        self._render = render
        self._observe = observe
        self._workers: dict[int, _Worker] = {}
        self._client: httpx.AsyncClient | None = None
        #: Messages dropped because a channel's queue was full (for ``/metrics``).
        self.dropped = 0

    async def start(self) -> None:
        """Make the HTTP client, in a thread: loading the CA bundle takes a good part of a
        second, which would otherwise stall the event loop and delay the first delivery."""
        if self._client is None:
            # No redirects: a webhook that redirects elsewhere is a misconfiguration.
            self._client = await asyncio.to_thread(
                httpx.AsyncClient, follow_redirects=False, trust_env=False
            )

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        return self._client

    def sync(self, channels: Mapping[int, AlertChannel]) -> None:
        """Run a worker for each of ``channels`` and stop those of removed ones."""
        for channel_id in list(self._workers):
            if channel_id not in channels:
                self._workers.pop(channel_id).task.cancel()
        for channel_id, channel in channels.items():
            worker = self._workers.get(channel_id)
            if worker is None:
                self._workers[channel_id] = _Worker(channel, self)
            else:
                worker.channel = channel

    def send(self, channel_id: int, message: Message) -> None:
        """Queue ``message`` for a channel; never waits."""
        worker = self._workers.get(channel_id)
        if worker is None:
            log.warning("alerts.unknown_channel", channel=channel_id, alert=message.alert.id)
            return
        try:
            worker.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("alerts.channel_queue_full", channel=channel_id, alert=message.alert.id)

    async def deliver(self, channel: AlertChannel, message: Message) -> bool:
        """Try to deliver ``message`` with retries; returns whether a receiver took it."""
        body = self._render(message, channel.type)
        delay = channel.backoff
        for attempt in range(1, channel.max_attempts + 1):
            status, error = await self._attempt(channel, body)
            recorded = await self._store.record_delivery(
                message.alert.id,
                channel.id,
                message.event,
                attempt,
                status_code=status,
                error=error,
            )
            if self._observe is not None:
                self._observe(message.alert, recorded)
            if error is None and status is not None and 200 <= status < 300:
                return True
            if attempt < channel.max_attempts:
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
        log.warning(
            "alerts.undelivered",
            channel=channel.id,
            receiver=public_url(channel.url),
            alert=message.alert.id,
            attempts=channel.max_attempts,
        )
        return False

    async def try_once(
        self, channel: AlertChannel, body: Mapping[str, Any]
    ) -> tuple[int | None, str | None]:
        """One attempt, no retry and no record (a test send): ``(status code, error)``.

        Bounded by the channel's ``timeout``; the error names the URL's scheme and host only.
        """
        return await self._attempt(channel, body)

    async def _attempt(
        self, channel: AlertChannel, body: Mapping[str, Any]
    ) -> tuple[int | None, str | None]:
        try:
            # The outer bound also covers what httpx's own timeouts do not (a slow trickle).
            async with asyncio.timeout(channel.timeout):
                response = await self._http().post(channel.url, json=body, timeout=channel.timeout)
        except (TimeoutError, httpx.TimeoutException):
            return None, f"timed out after {channel.timeout:g}s"
        except httpx.HTTPError as exc:
            # The exception text may hold the URL: record only its type and the host.
            return None, f"{type(exc).__name__} ({public_url(channel.url)})"
        return response.status_code, None

    async def aclose(self) -> None:
        """Stop every worker (queued messages are dropped) and close the HTTP client."""
        workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            worker.task.cancel()
        for worker in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker.task
        if self._client is not None:
            await self._client.aclose()
            self._client = None

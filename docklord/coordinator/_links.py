from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog

from docklord.coordinator._budget import SourceBudget, source_of
from docklord.coordinator._fleet import Fleet
from docklord.coordinator._nodeauth import NodeAuthenticator
from docklord.errors import DocklordError, HandshakeRejected, InvalidInput, LinkError
from docklord.link import LinkSession, LinkSettings, Transport
from docklord.protocol import PROTOCOL_VERSION, check_hello, clean_envelope
from docklord.protocol import docklord_pb2 as pb

__all__ = ["LinkManager"]

log = structlog.get_logger(__name__)

HELLO_TIMEOUT = 10.0


class LinkManager:
    """Accepts node links from any transport: handshake, then feed the fleet until it drops.

    Nothing is accepted before a valid ``Hello``; a bad one (malformed bytes, a text frame,
    another frame first, a bad node id, wrong credentials) is answered at once with a typed
    ``Reject`` and the link is closed, without a traceback. Each refused handshake costs its
    source address a token of ``failure_budget``; a source without tokens is refused at once
    (``Reject{reason: "throttled"}``) before anything it sends is read.

    Every snapshot, event batch and engine status a node sends is held to the protocol's
    limits (``docklord.protocol.clean_envelope``) before the fleet keeps it.
    """

    def __init__(
        self,
        fleet: Fleet,
        auth: NodeAuthenticator,
        *,
        coordinator_id: str,
        settings: LinkSettings | None = None,
        failure_budget: SourceBudget | None = None,
    ) -> None:
        self.fleet = fleet
        self.auth = auth
        self.coordinator_id = coordinator_id
        self.settings = settings or LinkSettings()
        # Bad handshakes per source: 20 at once, then 5 a second.
        self.failures = failure_budget or SourceBudget(burst=20, rate=5)
        self._sessions: set[LinkSession] = set()

    async def serve(self, transport: Transport) -> None:
        """Serve one node link until it ends. Never raises for link-level failures."""
        source = source_of(transport.peer)
        if self.failures.exhausted(source):
            wait = self.failures.retry_after(source)
            await self._refuse(
                transport, "throttled", f"too many failed link attempts: retry in {wait:.0f} s"
            )
            return
        try:
            hello = await self._receive_hello(transport)
            node_id, welcome = await self._admit(hello, source)
        except HandshakeRejected as exc:
            self._failed(source, transport, exc.reason, exc.message)
            await self._refuse(transport, exc.reason, exc.message)
            return
        except InvalidInput as exc:  # malformed frames or values: the peer's fault
            self._failed(source, transport, "invalid", exc.message)
            await self._refuse(transport, "invalid", exc.message)
            return
        except LinkError as exc:
            self.failures.charge(source)
            log.info("link closed during handshake", peer=transport.peer, error=str(exc))
            await transport.close()
            return
        except DocklordError as exc:  # the store failed: not the node's fault
            log.warning("link handshake failed", peer=transport.peer, error=exc.message)
            await self._refuse(transport, "unavailable", "the coordinator cannot check it now")
            return
        await self._run(node_id, hello, welcome, transport)

    def _failed(self, source: str, transport: Transport, reason: str, message: str) -> None:
        # A registration refused for the registration budget is not a bad handshake: charging
        # it would lock the address's registered nodes out too.
        if reason != "throttled":
            self.failures.charge(source)
            log.warning("node rejected", peer=transport.peer, reason=reason, error=message[:200])

    async def _refuse(self, transport: Transport, reason: str, message: str) -> None:
        reject = pb.Reject(reason=reason, message=message)
        await _send_quietly(transport, pb.Envelope(reject=reject))
        await transport.close()

    async def _receive_hello(self, transport: Transport) -> pb.Hello:
        try:
            first = await asyncio.wait_for(transport.receive(), HELLO_TIMEOUT)
        except TimeoutError as exc:
            raise HandshakeRejected("no Hello within 10 s", reason="invalid") from exc
        if first.WhichOneof("body") != "hello":
            raise HandshakeRejected("the first frame must be Hello", reason="invalid")
        hello = first.hello
        check_hello(hello)
        if hello.protocol_version != PROTOCOL_VERSION:
            raise HandshakeRejected(
                f"protocol version {hello.protocol_version} is not supported "
                f"(this coordinator speaks {PROTOCOL_VERSION})",
                reason="unsupported_version",
            )
        return hello

    async def _admit(self, hello: pb.Hello, source: str) -> tuple[str, pb.Welcome]:
        enrolled = await self.auth.handshake(
            hello.node_id, hello.proof, hello.enroll_token, source=source
        )
        node_id = enrolled.node_id if enrolled else hello.node_id
        if enrolled:
            # The invitation's name and labels are in the record the enrollment made; the
            # fleet lists the node with them from now on, not only after a restart.
            self.fleet.know(await self.auth.store.get_node(node_id))
        state = self.fleet.nodes.get(node_id)
        known = state.seq if state is not None else 0
        welcome = pb.Welcome(
            coordinator_id=self.coordinator_id,
            protocol_version=PROTOCOL_VERSION,
            known_seq=known,
            ping_interval_ms=int(self.settings.ping_interval * 1000),
        )
        if enrolled:
            welcome.assigned_node_id, welcome.assigned_password = node_id, enrolled.password
        return node_id, welcome

    async def _run(
        self, node_id: str, hello: pb.Hello, welcome: pb.Welcome, transport: Transport
    ) -> None:
        session = LinkSession(
            transport,
            name=f"node {node_id}",
            on_message=lambda env: self._on_message(node_id, env),
            settings=self.settings,
        )
        async with session:
            previous = self.fleet.nodes.get(node_id)
            if previous is not None and previous.session is not None:
                log.info("node linked again; closing its older link", node_id=node_id)
                await previous.session.aclose()
            await transport.send(pb.Envelope(welcome=welcome))
            self.fleet.attach(node_id, session, hello)
            self._sessions.add(session)
            if self.auth.is_revoked(node_id):
                # Revoked between the credential check and now: the revoke missed this link.
                await session.aclose()
                self.fleet.forget(node_id)
            log.info("node online", node_id=node_id, peer=transport.peer)
            try:
                await session.run()
            except LinkError as exc:
                log.info("node link lost", node_id=node_id, error=str(exc))
            finally:
                self._sessions.discard(session)
                self.fleet.detach(node_id, session)
                log.info("node offline", node_id=node_id)
        if self.auth.is_pending(node_id):
            return  # registered on first contact but never online: it stays "never seen"
        await self.auth.store.touch_node(
            node_id,
            last_seen_at=datetime.now(UTC),
            agent_version=hello.agent_version,
            hostname=hello.hostname,
            engine_version=hello.engine.version,
        )

    async def _on_message(self, node_id: str, envelope: pb.Envelope) -> None:
        clean_envelope(envelope)
        kind = envelope.WhichOneof("body")
        if kind in ("events", "snapshot") and self.auth.is_pending(node_id):
            await self.auth.linked(node_id)
        if kind == "events":
            self.fleet.apply_events(node_id, envelope.events.events)
        elif kind == "snapshot":
            self.fleet.apply_snapshot(node_id, envelope.snapshot)
        elif kind == "engine_status":
            self.fleet.apply_engine_status(node_id, envelope.engine_status)
        elif kind == "stats":
            self.fleet.apply_stats(node_id, envelope.stats)
        else:
            log.warning("unexpected frame from node", node_id=node_id, kind=kind)

    async def disconnect(self, node_id: str) -> None:
        """Close the live link of ``node_id`` now (revoked or deleted)."""
        state = self.fleet.nodes.get(node_id)
        if state is not None and state.session is not None:
            await state.session.aclose()

    async def aclose(self) -> None:
        """Close every link."""
        for session in list(self._sessions):
            await session.aclose()


async def _send_quietly(transport: Transport, envelope: pb.Envelope) -> None:
    try:
        await transport.send(envelope)
    except LinkError as exc:
        log.debug("could not send to a closing link", error=str(exc))

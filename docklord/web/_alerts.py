"""Alerting administration: rules, channels, and the alerts with their delivery attempts.

Admin only, through the one policy path (``require(Role.ADMIN)``); every change is audited.
A channel's URL is a secret (Slack's incoming webhook URLs are credentials): it is taken at
creation and never shown again, not even to admins: answers carry ``receiver``, its scheme and
host. The kinds, their parameters and resolve rules are in docs/OBSERVABILITY.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from docklord.coordinator import alert_json, check_pattern, delivery_json, public_url, test_body
from docklord.errors import InvalidInput
from docklord.store import AlertChannel, AlertRule
from docklord.web._audit import audited
from docklord.web._auth import Principal, Role, require
from docklord.web._deps import coordinator_of

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/alerts")

Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
RowId = Annotated[int, Field(ge=1, le=2**31 - 1)]
AlertId = Annotated[int, Field(ge=1, le=2**63 - 1)]
#: No control characters in names, globs and labels (PostgreSQL text cannot even hold NUL).
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=_PRINTABLE),
]
Glob = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=_PRINTABLE)]
LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_PRINTABLE)]
LabelValue = Annotated[str, StringConstraints(max_length=256, pattern=_PRINTABLE)]
KindName = Literal[
    "container_died",
    "restart_loop",
    "unhealthy",
    "cpu_high",
    "memory_high",
    "node_offline",
    "engine_unavailable",
    "log_match",
]
Seconds = Annotated[float, Field(ge=0, le=7 * 86400, allow_inf_nan=False)]

#: The parameters each kind takes (any other given is refused).
KIND_PARAMS: dict[str, frozenset[str]] = {
    "container_died": frozenset(),
    "restart_loop": frozenset({"restarts", "window"}),
    "unhealthy": frozenset(),
    "cpu_high": frozenset({"threshold", "duration"}),
    "memory_high": frozenset({"threshold", "threshold_bytes", "duration"}),
    "node_offline": frozenset({"duration"}),
    "engine_unavailable": frozenset({"duration"}),
    "log_match": frozenset({"pattern", "resolve_after"}),
}
_PARAMS = frozenset().union(*KIND_PARAMS.values())


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Selector(_Body):
    """What a rule applies to: every part given must match."""

    nodes: list[Glob] = Field(default_factory=list, max_length=100, description="ids or globs")
    #: A glob over the container name (for node kinds, the node's name or id).
    name: Glob | None = None
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict, max_length=32, description='exact values; "*": present'
    )


class NewRule(_Body):
    """``POST /api/v1/alerts/rules``: a kind, a selector, channels and the kind's parameters."""

    name: Name
    kind: KindName
    enabled: bool = True
    selector: Selector = Field(default_factory=lambda: Selector())
    channels: list[RowId] = Field(default_factory=list, max_length=20)
    restarts: int | None = Field(None, ge=1, le=1000, description="restart_loop")
    window: Seconds | None = Field(None, gt=0, description="restart_loop: seconds")
    threshold: float | None = Field(
        None, ge=0, le=100_000, allow_inf_nan=False, description="cpu_high, memory_high: %"
    )
    threshold_bytes: int | None = Field(None, ge=1, le=2**62, description="memory_high")
    duration: Seconds | None = Field(None, description="seconds the condition must hold")
    pattern: str | None = Field(
        None, max_length=256, pattern=r"^[^\x00]*$", description="log_match: a regex"
    )
    resolve_after: Seconds | None = Field(None, gt=0, description="log_match: quiet seconds")

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_pattern(value)
            except InvalidInput as exc:
                raise ValueError(exc.message) from None
        return value

    @model_validator(mode="after")
    def _params_fit_kind(self) -> NewRule:
        allowed = KIND_PARAMS[self.kind]
        for name in sorted(self.params()):
            if name not in allowed:
                raise ValueError(f"{name} is not a parameter of kind {self.kind}")
        if self.kind == "log_match" and self.pattern is None:
            raise ValueError("kind log_match needs a pattern")
        if self.kind == "memory_high" and self.threshold is not None and self.threshold_bytes:
            raise ValueError("give threshold (percent) or threshold_bytes, not both")
        return self

    def params(self) -> dict[str, Any]:
        """The kind's parameters that were given."""
        return {k: getattr(self, k) for k in _PARAMS if getattr(self, k) is not None}


class RuleChange(_Body):
    """``PATCH /api/v1/alerts/rules/{id}``: the fields given replace the stored ones (the kind
    stays; parameters are checked against it)."""

    name: Name | None = None
    enabled: bool | None = None
    selector: Selector | None = None
    channels: list[RowId] | None = Field(None, max_length=20)
    restarts: int | None = None
    window: float | None = None
    threshold: float | None = None
    threshold_bytes: int | None = None
    duration: float | None = None
    pattern: str | None = Field(None, max_length=256)
    resolve_after: float | None = None


class NewChannel(_Body):
    """``POST /api/v1/alerts/channels``: a generic JSON webhook or a Slack-compatible one."""

    name: Name
    type: Literal["webhook", "slack"] = "webhook"
    url: str = Field(min_length=1, max_length=2048, repr=False, description="shown only now")
    timeout: float = Field(10.0, ge=0.05, le=120, description="seconds per attempt")
    max_attempts: int = Field(5, ge=1, le=20)
    backoff: float = Field(2.0, ge=0.01, le=300, description="first retry delay, doubling")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)


class ChannelChange(_Body):
    """``PATCH /api/v1/alerts/channels/{id}``: only the fields given change; a ``url`` not
    given stays as stored (it is never shown, so a client cannot send it back)."""

    name: Name | None = None
    type: Literal["webhook", "slack"] | None = None
    url: str | None = Field(None, min_length=1, max_length=2048, repr=False)
    timeout: float | None = Field(None, ge=0.05, le=120)
    max_attempts: int | None = Field(None, ge=1, le=20)
    backoff: float | None = Field(None, ge=0.01, le=300)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)

    @model_validator(mode="after")
    def _no_nulls(self) -> ChannelChange:
        nulls = [k for k in self.model_fields_set if getattr(self, k) is None]
        if nulls:
            raise ValueError(f"{nulls[0]} cannot be null: leave it out to keep it")
        return self


def _check_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError("url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("url must be an http:// or https:// URL with a host")
    if any(c.isspace() or ord(c) < 32 for c in value):
        raise ValueError("url must not contain whitespace or control characters")
    return value


def rule_json(rule: AlertRule) -> dict[str, Any]:
    """One rule as the API shows it."""
    return {
        "id": rule.id,
        "name": rule.name,
        "kind": rule.kind,
        "enabled": rule.enabled,
        "selector": dict(rule.selector),
        "channels": list(rule.channel_ids),
        **dict(rule.params),
        "created_at": rule.created_at.isoformat(),
        "updated_at": rule.updated_at.isoformat(),
    }


def channel_json(channel: AlertChannel) -> dict[str, Any]:
    """One channel as the API shows it: never its URL, only ``receiver`` (scheme and host)."""
    return {
        "id": channel.id,
        "name": channel.name,
        "type": channel.type,
        "receiver": public_url(channel.url),
        "timeout": channel.timeout,
        "max_attempts": channel.max_attempts,
        "backoff": channel.backoff,
        "created_at": channel.created_at.isoformat(),
    }


async def _check_channels(request: Request, ids: list[int]) -> None:
    known = {c.id for c in await coordinator_of(request).store.list_channels()}
    missing = [i for i in ids if i not in known]
    if missing:
        raise InvalidInput(f"no alert channel with id {missing[0]}", details={"field": "channels"})


# ---- rules ----------------------------------------------------------------------------------


@router.get("/rules")
async def list_rules(principal: Admin, request: Request) -> JSONResponse:
    """Every alert rule."""
    rules = await coordinator_of(request).store.list_rules()
    return JSONResponse({"rules": [rule_json(r) for r in rules]})


@router.post("/rules", status_code=201)
async def create_rule(body: NewRule, principal: Admin, request: Request) -> JSONResponse:
    """Create a rule; it applies at once."""
    coordinator = coordinator_of(request)
    params = {"kind": body.kind, "selector": body.selector.model_dump(), **body.params()}
    async with audited(request, principal, "alert_rule.create", target=body.name, params=params):
        await _check_channels(request, body.channels)
        rule = await coordinator.store.create_rule(
            body.name,
            body.kind,
            selector=body.selector.model_dump(),
            params=body.params(),
            channel_ids=body.channels,
            enabled=body.enabled,
        )
    await coordinator.alerts.reload()
    return JSONResponse(rule_json(rule), 201)


@router.get("/rules/{rule_id}")
async def get_rule(rule_id: RowId, principal: Admin, request: Request) -> JSONResponse:
    """One rule."""
    return JSONResponse(rule_json(await coordinator_of(request).store.get_rule(rule_id)))


@router.patch("/rules/{rule_id}")
async def update_rule(
    rule_id: RowId, body: RuleChange, principal: Admin, request: Request
) -> JSONResponse:
    """Change a rule's name, enabled flag, selector, channels or parameters."""
    coordinator = coordinator_of(request)
    given = body.model_dump(exclude_unset=True)
    if not given:
        raise InvalidInput("nothing to change")
    async with audited(
        request, principal, "alert_rule.update", target=str(rule_id), params=given
    ) as entry:
        current = rule_json(await coordinator.store.get_rule(rule_id))
        merged = _merged(current, given)
        entry.target = merged.name
        await _check_channels(request, merged.channels)
        rule = await coordinator.store.update_rule(
            rule_id,
            name=merged.name,
            enabled=merged.enabled,
            selector=merged.selector.model_dump(),
            params=merged.params(),
            channel_ids=merged.channels,
        )
    await coordinator.alerts.reload()
    return JSONResponse(rule_json(rule))


def _merged(current: dict[str, Any], given: dict[str, Any]) -> NewRule:
    """The rule after a change, validated as a new one would be.

    Raises:
        InvalidInput: naming each bad field.
    """
    values = {k: v for k, v in {**current, **given}.items() if k in NewRule.model_fields}
    try:
        return NewRule.model_validate(values)
    except ValidationError as exc:
        fields = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        raise InvalidInput("the rule is invalid", details={"fields": fields}) from None


@router.delete("/rules/{rule_id}", status_code=204)
async def delete_rule(rule_id: RowId, principal: Admin, request: Request) -> Response:
    """Delete a rule; its open alerts resolve, past ones stay in the history."""
    coordinator = coordinator_of(request)
    async with audited(request, principal, "alert_rule.delete", target=str(rule_id)):
        await coordinator.store.delete_rule(rule_id)
    await coordinator.alerts.reload()
    return Response(status_code=204)


# ---- channels -------------------------------------------------------------------------------


@router.get("/channels")
async def list_channels(principal: Admin, request: Request) -> JSONResponse:
    """Every channel (without URLs)."""
    channels = await coordinator_of(request).store.list_channels()
    return JSONResponse({"channels": [channel_json(c) for c in channels]})


@router.post("/channels", status_code=201)
async def create_channel(body: NewChannel, principal: Admin, request: Request) -> JSONResponse:
    """Create a channel. The URL is stored and never shown again."""
    coordinator = coordinator_of(request)
    params = {"type": body.type, "receiver": public_url(body.url)}
    async with audited(request, principal, "alert_channel.create", target=body.name, params=params):
        channel = await coordinator.store.create_channel(
            body.name,
            body.type,
            body.url,
            timeout=body.timeout,
            max_attempts=body.max_attempts,
            backoff=body.backoff,
        )
    await coordinator.alerts.reload()
    return JSONResponse(channel_json(channel), 201)


@router.get("/channels/{channel_id}")
async def get_channel(channel_id: RowId, principal: Admin, request: Request) -> JSONResponse:
    """One channel (without its URL)."""
    channel = await coordinator_of(request).store.get_channel(channel_id)
    return JSONResponse(channel_json(channel))


@router.patch("/channels/{channel_id}")
async def update_channel(
    channel_id: RowId, body: ChannelChange, principal: Admin, request: Request
) -> JSONResponse:
    """Change a channel's name, type, URL, timeout, attempts or backoff (the URL is kept when
    not given, and never shown)."""
    coordinator = coordinator_of(request)
    given = body.model_dump(exclude_unset=True)
    if not given:
        raise InvalidInput("nothing to change")
    # The URL is a secret: the audit entry keeps its receiver (scheme and host) only.
    params = {k: v for k, v in given.items() if k != "url"}
    if "url" in given:
        params["receiver"] = public_url(given["url"])
    async with audited(
        request, principal, "alert_channel.update", target=str(channel_id), params=params
    ) as entry:
        channel = await coordinator.store.update_channel(channel_id, **given)
        entry.target = channel.name
    await coordinator.alerts.reload()
    return JSONResponse(channel_json(channel))


@router.post("/channels/{channel_id}/test")
async def test_channel(channel_id: RowId, principal: Admin, request: Request) -> JSONResponse:
    """Send the channel one test message now: one attempt, no retry, not recorded as a
    delivery. The answer says how the receiver took it."""
    coordinator = coordinator_of(request)
    async with audited(request, principal, "alert_channel.test", target=str(channel_id)) as entry:
        channel = await coordinator.store.get_channel(channel_id)
        entry.target = channel.name
        body = test_body(channel.name, channel.type)
        status, error = await coordinator.alerts.deliverer.try_once(channel, body)
    ok = error is None and status is not None and 200 <= status < 300
    return JSONResponse({"ok": ok, "status_code": status, "error": error})


@router.delete("/channels/{channel_id}", status_code=204)
async def delete_channel(channel_id: RowId, principal: Admin, request: Request) -> Response:
    """Delete a channel; rules naming it no longer send there."""
    coordinator = coordinator_of(request)
    async with audited(request, principal, "alert_channel.delete", target=str(channel_id)):
        await coordinator.store.delete_channel(channel_id)
    await coordinator.alerts.reload()
    return Response(status_code=204)


# ---- alerts ---------------------------------------------------------------------------------


@router.get("")
async def list_alerts(
    principal: Admin,
    request: Request,
    state: Annotated[Literal["firing", "resolved"] | None, Query()] = None,
    rule_id: Annotated[RowId | None, Query()] = None,
    node: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: Annotated[AlertId | None, Query()] = None,
) -> JSONResponse:
    """Current and past alerts, newest first, each with its delivery attempts; page with
    ``before_id=<next_before_id>``."""
    store = coordinator_of(request).store
    alerts = await store.list_alerts(
        state=state, rule_id=rule_id, node_id=node, limit=limit, before_id=before_id
    )
    deliveries = await store.deliveries_of(a.id for a in alerts)
    rows = [
        {**alert_json(a), "deliveries": [delivery_json(d) for d in deliveries[a.id]]}
        for a in alerts
    ]
    more = len(alerts) == limit
    return JSONResponse(
        {"alerts": rows, "next_before_id": alerts[-1].id if more and alerts else None}
    )

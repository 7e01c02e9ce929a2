"""Push notification channels in the REST API: `POST/GET /v1/channels`, `DELETE /v1/channels/{id}`.

Cronofy's shape (service-facts §1.5): `{"channel": {"channel_id", "callback_url", "filters"}}`; the
signing secret (`whsec_...`, Standard Webhooks) is in the answer to the POST only, once. A key sees and
deletes only its own channels. The work is calsync.services.push's; these routes translate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response
from pydantic import BaseModel, Field

from calsync.services import Deployment, push
from calsync.services.api_keys import ApiPrincipal
from calsync.services.secretbox import SecretBoxError
from calsync.store.sqlpush import ChannelRecord
from calsync.web.api.auth import require_scope
from calsync.web.api.errors import ApiError, responses

Reader = Annotated[ApiPrincipal, Depends(require_scope("read"))]
EventType = Annotated[str, Field(pattern=r"^[a-z_]+\.[a-z_]+$", max_length=64)]


class ChannelFilters(BaseModel):
    calendar_ids: list[Annotated[str, Field(max_length=2000)]] | None = Field(
        default=None, max_length=256, description="Only changes in these calendars (default: all)."
    )
    only_managed: bool = Field(default=False, description="Only changes to events calsync manages.")
    event_types: list[EventType] | None = Field(
        default=None,
        max_length=8,
        description="Only these: calendar.changed, profile.disconnected, profile.initial_sync_completed, "
        "sync.failed (default: all).",
    )
    include_own_writes: bool = Field(
        default=False, description="Also notify of changes this API key made itself (default: not)."
    )


class CreateChannel(BaseModel):
    callback_url: str = Field(
        min_length=1,
        max_length=2048,
        description="Where notifications are POSTed: an https URL on a public address.",
    )
    filters: ChannelFilters = Field(default_factory=ChannelFilters)
    cronofy_signature: bool = Field(
        default=False, description="Also sign with Cronofy's Cronofy-HMAC-SHA256 header (body only)."
    )


class Channel(BaseModel):
    channel_id: str
    callback_url: str
    filters: ChannelFilters
    cronofy_signature: bool
    status: str = Field(description="active, or disabled (410 Gone, or failing for days).")
    disabled_reason: str | None = None
    created: datetime


class NewChannel(Channel):
    secret: str = Field(
        description="The whsec_ signing secret (Standard Webhooks). Shown in this answer only: keep it."
    )


class ChannelAnswer(BaseModel):
    channel: NewChannel


class ChannelsAnswer(BaseModel):
    channels: list[Channel]


def _filters(record: ChannelRecord) -> ChannelFilters:
    stored = push.Filters.from_json(record.filters)
    return ChannelFilters(
        calendar_ids=None if stored.calendar_ids is None else list(stored.calendar_ids),
        only_managed=stored.only_managed,
        event_types=None if stored.event_types is None else list(stored.event_types),
        include_own_writes=stored.echo,
    )


def _channel(record: ChannelRecord) -> Channel:
    return Channel(
        channel_id=record.id,
        callback_url=record.callback_url,
        filters=_filters(record),
        cronofy_signature=record.cronofy_signature,
        status=record.status,
        disabled_reason=record.disabled_reason,
        created=record.created,
    )


def channels_router(deployment: Deployment) -> APIRouter:
    """The channel routes of one deployment (include them with prefix "/v1")."""
    router = APIRouter(responses=responses(401, 403, 422), tags=["push notifications"])

    @router.post("/channels", response_model=ChannelAnswer, operation_id="createChannel")
    async def create_channel(principal: Reader, body: CreateChannel) -> ChannelAnswer:
        """Subscribe a callback URL to notifications (signed per Standard Webhooks; docs/push.md)."""
        f = body.filters
        filters = push.Filters(
            calendar_ids=None if f.calendar_ids is None else tuple(f.calendar_ids),
            only_managed=f.only_managed,
            event_types=None if f.event_types is None else tuple(f.event_types),
            echo=f.include_own_writes,
        )
        try:
            made = await push.create_channel(
                deployment,
                owner=principal.key_id,
                callback_url=body.callback_url,
                filters=filters,
                cronofy_signature=body.cronofy_signature,
            )
        except push.CallbackRefused as exc:
            raise ApiError(422, "callback_url", "errors.invalid", str(exc)) from None
        except push.ChannelLimit as exc:
            raise ApiError(422, "channel", "errors.limit", str(exc)) from None
        except push.PushError as exc:
            raise ApiError(422, "filters", "errors.invalid", str(exc)) from None
        except SecretBoxError:
            raise ApiError(
                503, "channel", "errors.not_configured",
                "push notifications are not configured on this server (no key for secrets at rest)",
            ) from None  # fmt: skip
        shown = _channel(made.channel)
        return ChannelAnswer(channel=NewChannel(**shown.model_dump(), secret=made.secret))

    @router.get("/channels", response_model=ChannelsAnswer, operation_id="listChannels")
    async def list_channels(principal: Reader) -> ChannelsAnswer:
        """This key's channels (never their secrets)."""
        return ChannelsAnswer(
            channels=[_channel(c) for c in await push.list_channels(deployment, principal.key_id)]
        )

    @router.delete(
        "/channels/{channel_id}",
        status_code=202,
        response_class=Response,
        responses={202: {"description": "Deleted; nothing more is sent to it."}, **responses(404)},
        operation_id="deleteChannel",
    )
    async def delete_channel(principal: Reader, channel_id: Annotated[str, Path(max_length=64)]) -> Response:
        """Stop a channel: it and its pending notifications are deleted."""
        try:
            await push.delete_channel(deployment, channel_id, owner=principal.key_id)
        except push.ChannelNotFound:
            raise ApiError(404, "channel_id", "errors.not_found", "no such channel for this key") from None
        return Response(status_code=202)

    return router

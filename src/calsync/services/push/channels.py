"""Channels: a subscriber's callback URL, filters and signing secret (POST/GET/DELETE /v1/channels).

A channel belongs to the API key that made it (its `owner`, the key's id) and is seen and deleted only
through that key; operators see every channel (`calsync channels list`). Its secret is made here, shown
once (in `NewChannel`), and stored sealed (calsync.services.secretbox) under the channel's id.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from calsync.services.push import events, signing
from calsync.services.push.errors import ChannelLimit, ChannelNotFound, PushError
from calsync.services.push.events import Filters
from calsync.services.push.guard import CallbackPolicy, pin
from calsync.services.push.publish import push_store
from calsync.services.secretbox import secret_box
from calsync.store.sqlpush import ChannelRecord
from calsync.sync.engine import off_loop

if TYPE_CHECKING:
    from calsync.services.deployment import Deployment
    from calsync.settings import Settings

MAX_CHANNELS = 128  # per owner, as Cronofy ("we recommend only using one")


@dataclass(frozen=True, slots=True)
class NewChannel:
    """A channel just made, with its secret in the clear: the only time anyone sees it."""

    channel: ChannelRecord
    secret: str


def policy(settings: Settings) -> CallbackPolicy:
    return CallbackPolicy(settings.push_allow_private_callbacks, settings.push_allow_http_callbacks)


async def create_channel(
    deployment: Deployment,
    *,
    owner: str,
    callback_url: str,
    filters: Filters | None = None,
    cronofy_signature: bool = False,
) -> NewChannel:
    """Make a channel. Raises CallbackRefused (the URL fails the address guard, checked with DNS now),
    ChannelLimit, PushError (an unknown event type), SecretBoxError (no key to seal the secret with)."""
    filters = filters or Filters()
    unknown = sorted(set(filters.event_types or ()) - set(events.EVENT_TYPES))
    if unknown:
        raise PushError(f"unknown event types {', '.join(unknown)} (known: {', '.join(events.EVENT_TYPES)})")
    box = secret_box(deployment.settings)
    await pin(callback_url, policy(deployment.settings))
    store = push_store(deployment)
    if await off_loop(store.count_channels, owner) >= MAX_CHANNELS:
        raise ChannelLimit(f"at most {MAX_CHANNELS} channels per API key; delete one first")
    channel_id = "chn_" + secrets.token_urlsafe(16)
    secret = signing.new_secret()
    record = ChannelRecord(
        id=channel_id,
        owner=owner,
        callback_url=callback_url.strip(),
        filters=filters.to_json(),
        secret=box.seal(secret, channel_id),
        cronofy_signature=cronofy_signature,
        status="active",
        disabled_reason=None,
        created=deployment.clock(),
    )
    await off_loop(store.add_channel, record)
    return NewChannel(record, secret)


async def list_channels(deployment: Deployment, owner: str | None = None) -> Sequence[ChannelRecord]:
    """One owner's channels, or (None) every channel: for operators."""
    return await off_loop(push_store(deployment).channels, owner)


async def delete_channel(deployment: Deployment, channel_id: str, owner: str | None = None) -> None:
    """Delete a channel and its pending notifications (only `owner`'s, when given). ChannelNotFound."""
    if not await off_loop(push_store(deployment).delete_channel, channel_id, owner):
        raise ChannelNotFound(f"no channel {channel_id!r}")

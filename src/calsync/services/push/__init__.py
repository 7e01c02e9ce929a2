"""Push to subscribers (issue 11, item 2; docs/push.md): channels, a durable outbox, signed deliveries.

- `create_channel` / `list_channels` / `delete_channel` (calsync.services.push.channels): the API's
  `/v1/channels` and `calsync channels`; the secret is shown once and stored encrypted.
- `publish` / `publish_calendar_changed` / `publish_profile_disconnected` (publish): outbox rows for
  every matching channel, durable when they return; `on_run` is the sync runs' hook.
- `Deliverer` / `deliverer(deployment)` (delivery): sends due rows, signed per Standard Webhooks, with
  retries over days; the runtime runs it (embedded loop, or a Procrastinate task on PostgreSQL).
"""

from __future__ import annotations

from calsync.services.push.channels import (
    MAX_CHANNELS,
    NewChannel,
    create_channel,
    delete_channel,
    list_channels,
)
from calsync.services.push.delivery import Deliverer, PassResult, deliverer
from calsync.services.push.errors import CallbackRefused, ChannelLimit, ChannelNotFound, PushError
from calsync.services.push.events import EVENT_TYPES, Filters
from calsync.services.push.publish import (
    on_run,
    profile_id_for,
    publish,
    publish_calendar_changed,
    publish_profile_disconnected,
    push_store,
)

__all__ = [
    "EVENT_TYPES",
    "MAX_CHANNELS",
    "CallbackRefused",
    "ChannelLimit",
    "ChannelNotFound",
    "Deliverer",
    "Filters",
    "NewChannel",
    "PassResult",
    "PushError",
    "create_channel",
    "delete_channel",
    "deliverer",
    "list_channels",
    "on_run",
    "profile_id_for",
    "publish",
    "publish_calendar_changed",
    "publish_profile_disconnected",
    "push_store",
]

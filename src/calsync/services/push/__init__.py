"""Push to subscribers (issue 11, item 2; docs/push.md): channels, a durable outbox, signed deliveries.

- `create_channel` / `list_channels` / `delete_channel` (calsync.services.push.channels): the API's
  `/v1/channels` and `calsync channels`; the secret is shown once and stored encrypted.
- `publish` / `publish_calendar_changed` / `publish_profile_disconnected` (publish): outbox rows for
  every matching channel, durable when they return; `on_run` is the sync runs' hook.
- `Deliverer` / `deliverer(deployment)` (delivery): sends due rows, signed per Standard Webhooks, with
  retries over days; the runtime runs it (embedded loop, or a Procrastinate task on PostgreSQL).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from calsync import lazy
from calsync.services.push.errors import CallbackRefused, ChannelLimit, ChannelNotFound, PushError
from calsync.services.push.events import EVENT_TYPES, Filters

# Imported here, before anything else can, for two reasons: `on_run` is every sync run's hook, and
# `publish` names both a module and its function (a first import of a submodule rebinds the package's
# attribute to the module, so `calsync.services.push.publish` stays the function only if the module is
# imported before any lazy import below can import it).
from calsync.services.push.publish import (
    on_run,
    profile_id_for,
    publish,
    publish_calendar_changed,
    publish_profile_disconnected,
    push_store,
)

if TYPE_CHECKING:
    from calsync.services.push.channels import (
        MAX_CHANNELS,
        NewChannel,
        create_channel,
        delete_channel,
        list_channels,
    )
    from calsync.services.push.delivery import Deliverer, PassResult, deliverer

# Channels and deliveries are imported on first use (PEP 562 `__getattr__` below): a sync run only
# publishes (its hook, `on_run`), and should not pay for the signing (standardwebhooks), the callback
# guard, the secret box (cryptography) and the HTTP delivery it does not run.
_HOMES = {
    "MAX_CHANNELS": "channels",
    "NewChannel": "channels",
    "create_channel": "channels",
    "delete_channel": "channels",
    "list_channels": "channels",
    "Deliverer": "delivery",
    "PassResult": "delivery",
    "deliverer": "delivery",
}

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


__getattr__ = lazy.exports(__name__, _HOMES)  # the names above, imported on first use

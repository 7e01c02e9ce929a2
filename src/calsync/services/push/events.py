"""What a notification says and who gets it: event types, thin payloads and channel filters.

Payloads are thin (Standard Webhooks' recommendation, Cronofy's practice): they say *what* changed
and where, never the events themselves; a subscriber reads what it needs through the API
(`GET /v1/events?last_modified=<changes_since>`). Body: `{"type", "timestamp", "data"}`.

Event types:
- `calendar.changed` {profile_id, calendar_ids, changes_since, mailbox}: events in the profile's
  calendars changed (a sync run wrote, a person edited in Outlook, another API client wrote).
  `calendar_ids` is empty when the change is not tied to known calendars: such a notification reaches
  channels filtered by calendar too (a spurious read is cheaper than a missed change);
- `profile.disconnected` {profile_id, relink_url}: a delegated connection lost its consent or token;
- `profile.initial_sync_completed` {profile_id, mailbox}: a mailbox's first successful run, once;
- `sync.failed` {profile_id, mailbox, error_code}: a run failed.

Channel filters (stored as JSON with the channel): `calendar_ids` (None: all), `only_managed` (only
changes to events calsync manages), `event_types` (None: all), `echo` (also the changes the channel's
own API key made; off by default, so an API client is not told about its own writes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

CALENDAR_CHANGED = "calendar.changed"
PROFILE_DISCONNECTED = "profile.disconnected"
INITIAL_SYNC_COMPLETED = "profile.initial_sync_completed"
SYNC_FAILED = "sync.failed"
EVENT_TYPES = (CALENDAR_CHANGED, PROFILE_DISCONNECTED, INITIAL_SYNC_COMPLETED, SYNC_FAILED)


@dataclass(frozen=True, slots=True)
class Filters:
    calendar_ids: tuple[str, ...] | None = None
    only_managed: bool = False
    event_types: tuple[str, ...] | None = None
    echo: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "calendar_ids": None if self.calendar_ids is None else list(self.calendar_ids),
            "only_managed": self.only_managed,
            "event_types": None if self.event_types is None else list(self.event_types),
            "echo": self.echo,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Filters:
        ids, types = data.get("calendar_ids"), data.get("event_types")
        return cls(
            calendar_ids=None if ids is None else tuple(str(i) for i in ids),
            only_managed=bool(data.get("only_managed", False)),
            event_types=None if types is None else tuple(str(t) for t in types),
            echo=bool(data.get("echo", False)),
        )


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing to tell subscribers, before it is matched against channels."""

    event_type: str
    data: dict[str, Any]
    calendar_ids: tuple[str, ...] = ()
    managed: bool = True  # the change concerns events calsync manages
    origin: str | None = None  # the API key whose write caused it (None: calsync itself, or a person)


def matches(filters: Filters, owner: str, notice: Notice) -> bool:
    """Whether a channel with these filters, owned by `owner`, gets the notice."""
    if filters.event_types is not None and notice.event_type not in filters.event_types:
        return False
    if notice.event_type != CALENDAR_CHANGED:
        return True
    if notice.origin is not None and notice.origin == owner and not filters.echo:
        return False
    if filters.only_managed and not notice.managed:
        return False
    if filters.calendar_ids is not None and notice.calendar_ids:
        return bool(set(filters.calendar_ids) & set(notice.calendar_ids))
    return True


def body(notice: Notice, channel_id: str, at: datetime) -> str:
    """The JSON body every attempt of this notification to this channel sends (and signs)."""
    document = {
        "type": notice.event_type,
        "timestamp": _iso(at),
        "data": {**notice.data, "channel_id": channel_id},
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def calendar_changed(
    profile_id: str, calendar_ids: Sequence[str], changes_since: datetime, **extra: Any
) -> dict[str, Any]:
    return {
        "profile_id": profile_id,
        "calendar_ids": list(calendar_ids),
        "changes_since": _iso(changes_since),
        **extra,
    }


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

"""A change-notification subscription, the store that indexes subscriptions, and its JSON form.

Split from `graphemu.notify` (which delivers notifications) and `graphemu.graph.subscriptions` (the Graph
routes) because both use the same state: the routes create, renew and delete `Subscription`s, the notifier
reads them to decide who hears about a change. `graphemu.notify` re-exports `Subscription` and
`SubscriptionStore`; `graphemu.graph.subscriptions` re-exports `to_json`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphemu.graph.router import Context


@dataclass
class Subscription:
    """One subscription to a mailbox's events (all calendars, or one calendar when `calendar_id` is set)."""

    id: str
    tenant_id: str
    application_id: str
    creator_id: str
    owner_id: str  # the mailbox whose events are watched
    calendar_id: str | None
    resource: str  # as the client sent it
    change_types: frozenset[str]
    change_type: str  # as the client sent it
    notification_url: str
    lifecycle_url: str | None
    expiration: datetime
    client_state: str | None
    tls_version: str
    include_resource_data: bool | None = None
    delegated_user_id: str | None = None
    reauthorization_required_at: float | None = None  # emulator time of the last unanswered challenge
    expiration_ticks: int = 0  # the 7th fractional digit (100 ns) of the expiry, which datetime cannot hold

    def active(self, now: datetime) -> bool:
        return self.expiration > now


class SubscriptionStore:
    """Subscriptions by id and by watched mailbox, so a change only looks at that mailbox's subscriptions."""

    def __init__(self) -> None:
        self.by_id: dict[str, Subscription] = {}
        self.by_owner: dict[str, dict[str, Subscription]] = {}

    def add(self, sub: Subscription) -> None:
        self.by_id[sub.id] = sub
        self.by_owner.setdefault(sub.owner_id, {})[sub.id] = sub

    def remove(self, sub_id: str) -> Subscription | None:
        sub = self.by_id.pop(sub_id, None)
        if sub is not None:
            self.by_owner.get(sub.owner_id, {}).pop(sub_id, None)
        return sub

    def purge_expired(self, now: datetime) -> None:
        """Graph deletes a subscription that was not renewed in time; so does the emulator, at expiry."""
        for sub in [s for s in self.by_id.values() if not s.active(now)]:
            self.remove(sub.id)

    def active_for_owner(self, owner_id: str, now: datetime) -> list[Subscription]:
        return [s for s in self.by_owner.get(owner_id, {}).values() if s.active(now)]


def to_json(ctx: Context, sub: Subscription, *, client_state: bool = True) -> dict[str, Any]:
    """The subscription entity (schema 'subscription'); list responses withhold clientState."""
    exp = sub.expiration
    return {
        "id": sub.id,
        "resource": sub.resource,
        "applicationId": sub.application_id,
        "changeType": sub.change_type,
        "clientState": sub.client_state if client_state else None,
        "notificationUrl": sub.notification_url,
        "notificationQueryOptions": None,
        "lifecycleNotificationUrl": sub.lifecycle_url,
        "expirationDateTime": f"{exp:%Y-%m-%dT%H:%M:%S}.{exp.microsecond:06d}{sub.expiration_ticks}Z",
        "creatorId": sub.creator_id,
        "includeResourceData": sub.include_resource_data,
        "latestSupportedTlsVersion": sub.tls_version,
        "encryptionCertificate": None,
        "encryptionCertificateId": None,
        "notificationUrlAppId": None,
    }

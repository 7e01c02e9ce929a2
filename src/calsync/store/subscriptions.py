"""The Graph subscriptions table, and the look-up that tells a notification's echo from a user's change.

A row per synced scope (calsync.store.scoped) records the subscription Graph gave calsync for that
mailbox's events: its id, when it expires, a hash of its clientState, its status and the last lifecycle
event. The subscription itself lives in Graph; losing this table only means the next round creates new
subscriptions (the old ones expire unrenewed within days, and their notifications are ignored meanwhile,
for their clientState is no longer known).

`managed_change_keys` reads, for the events a notification names, the changeKey calsync stored after its
own last write (the `mappings` table already keeps it for If-Match): a notification carrying that very
changeKey is the echo of calsync's own write, not a user's change.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from calsync.store import schema
from calsync.store.engine import begin_write
from calsync.store.records import Clock, utc_now

SubscriptionStatus = Literal["active", "reauthorization_required", "removed", "failed"]
STATUSES: tuple[SubscriptionStatus, ...] = ("active", "reauthorization_required", "removed", "failed")

_T = schema.graph_subscriptions


def client_state_hash(client_state: str) -> str:
    """What is stored of a clientState: its SHA-256 (the secret is 256 random bits, so no salt is needed)."""
    return hashlib.sha256(client_state.encode()).hexdigest()


def client_state_matches(received: object, stored_hash: str | None) -> bool:
    """Whether a notification's clientState is the one calsync sent, compared in constant time."""
    if stored_hash is None or not isinstance(received, str):
        return False
    return hmac.compare_digest(client_state_hash(received), stored_hash)


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    """One scope's subscription as calsync last knew it."""

    scope: str
    resource: str
    status: SubscriptionStatus
    subscription_id: str | None = None
    expires_at: datetime | None = None
    client_state_hash: str | None = None
    last_event: str | None = None
    last_event_at: datetime | None = None
    error: str | None = None
    updated_at: datetime | None = None

    def with_event(self, event: str, at: datetime) -> SubscriptionRecord:
        return replace(self, last_event=event, last_event_at=at)


class SqlSubscriptions:
    """The `graph_subscriptions` table on a migrated database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, *, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def get(self, scope: str) -> SubscriptionRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(_T).where(_T.c.scope == scope)).first()
        return _record(row) if row is not None else None

    def by_id(self, subscription_id: str) -> SubscriptionRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(_T).where(_T.c.subscription_id == subscription_id)).first()
        return _record(row) if row is not None else None

    def by_ids(self, subscription_ids: Iterable[str]) -> dict[str, SubscriptionRecord]:
        """The records of these subscription ids (one query; unknown ids are absent)."""
        wanted = sorted(set(subscription_ids))
        if not wanted:
            return {}
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(_T).where(_T.c.subscription_id.in_(wanted))).all()
        return {row.subscription_id: _record(row) for row in rows}

    def all(self) -> list[SubscriptionRecord]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(_T).order_by(_T.c.scope)).all()
        return [_record(row) for row in rows]

    def counts(self) -> dict[str, int]:
        """Subscriptions by status (every status present, zeros included), for the metrics."""
        found: dict[str, int] = dict.fromkeys(STATUSES, 0)
        with self._engine.connect() as conn:
            for status, n in conn.execute(sa.select(_T.c.status, sa.func.count()).group_by(_T.c.status)):
                found[status] = int(n)
        return found

    def put(self, record: SubscriptionRecord) -> SubscriptionRecord:
        """Insert or replace the scope's row; returns it with its `updated_at`."""
        stored = replace(record, updated_at=self._clock())
        values = {
            "scope": stored.scope,
            "subscription_id": stored.subscription_id,
            "resource": stored.resource,
            "expires_at": stored.expires_at,
            "client_state_hash": stored.client_state_hash,
            "status": stored.status,
            "last_event": stored.last_event,
            "last_event_at": stored.last_event_at,
            "error": stored.error,
            "updated_at": stored.updated_at,
        }
        with begin_write(self._engine) as conn:
            conn.execute(sa.delete(_T).where(_T.c.scope == stored.scope))
            if stored.subscription_id is not None:  # a stale row still holding the id (scope renamed)
                conn.execute(sa.delete(_T).where(_T.c.subscription_id == stored.subscription_id))
            conn.execute(sa.insert(_T), values)
        return stored

    def delete(self, scope: str) -> None:
        with begin_write(self._engine) as conn:
            conn.execute(sa.delete(_T).where(_T.c.scope == scope))

    def managed_change_keys(self, scope: str, remote_ids: Iterable[str]) -> dict[str, str | None]:
        """remote id -> the changeKey calsync stored for it, for those of `remote_ids` that are calsync's
        events in this scope (mapping state synced; an event mid-create or already deleted is calsync's
        own doing, not a user's, and is left out like a foreign one)."""
        wanted = sorted(set(remote_ids))
        if not wanted:
            return {}
        m = schema.mappings
        query = sa.select(m.c.remote_id, m.c.change_key).where(
            m.c.mailbox == scope, m.c.remote_id.in_(wanted), m.c.state == "synced"
        )
        with self._engine.connect() as conn:
            return {row.remote_id: row.change_key for row in conn.execute(query)}


def _record(row: sa.Row[tuple[object, ...]]) -> SubscriptionRecord:
    return SubscriptionRecord(
        scope=row.scope,
        resource=row.resource,
        status=row.status,
        subscription_id=row.subscription_id,
        expires_at=row.expires_at,
        client_state_hash=row.client_state_hash,
        last_event=row.last_event,
        last_event_at=row.last_event_at,
        error=row.error,
        updated_at=row.updated_at,
    )

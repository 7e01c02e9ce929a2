"""Push channels and their outbox in SQL (issue 11, item 2): what calsync.services.push keeps.

Why an outbox: a notification is a row written in the same transaction that decides to send it, so a
crash after `publish` returned loses nothing; a deliverer sends the rows later and marks the outcome.
Delivery is therefore *at least once*: a deliverer that dies between the HTTP answer and marking the row
leaves it to be sent again when its claim expires (receivers dedupe on `webhook-id`).

Claiming (`claim_due`) is one short write transaction: select the due rows, push their
`next_attempt_at` forward by the claim's lease and count the attempt, commit. On PostgreSQL the SELECT
takes `FOR UPDATE SKIP LOCKED`, so deliverers in several processes each get different rows and never
wait on each other; on SQLite the write transaction starts with BEGIN IMMEDIATE, which serialises
claimers the same way. The marks after an attempt are fenced by the attempt count: a deliverer whose
claim expired and was taken over cannot overwrite the newer attempt's outcome.

The store holds the channel's secret as the service gives it (already encrypted); it never sees it in
the clear.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from calsync.store import push_tables
from calsync.store import records as rules
from calsync.store.sqlbase import SqlBase


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    """A stored channel; `secret` is sealed (encrypted) text, `filters` the JSON object as stored."""

    id: str
    owner: str
    callback_url: str
    filters: dict[str, Any]
    secret: str
    cronofy_signature: bool
    status: str
    disabled_reason: str | None
    created: datetime


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One notification for one channel, and where its delivery stands."""

    id: int
    channel_id: str
    event_type: str
    payload: str
    webhook_id: str
    attempts: int
    created: datetime
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    dead: bool

    @property
    def state(self) -> str:
        """delivered, dead or pending: what the admin pages and `calsync channels` show."""
        if self.delivered_at is not None:
            return "delivered"
        return "dead" if self.dead else "pending"


@dataclass(frozen=True, slots=True)
class Claim:
    """A due row taken by one deliverer: the row (attempts already counts this attempt) and its channel."""

    item: OutboxRecord
    channel: ChannelRecord


NewRow = tuple[str, str]
"""(payload JSON, webhook id) of one outbox row for one channel."""


class SqlPushStore(SqlBase):
    """Channels, outbox and milestones on the state store's database (see the module docstring)."""

    # -- channels ----------------------------------------------------------------------------------

    def add_channel(self, channel: ChannelRecord) -> None:
        rules.check_aware("created", channel.created)
        with self._write() as conn:
            conn.execute(sa.insert(push_tables.channels).values(**_channel_values(channel)))

    def channel(self, channel_id: str) -> ChannelRecord | None:
        with self._read() as conn:
            row = conn.execute(
                sa.select(push_tables.channels).where(push_tables.channels.c.id == channel_id)
            ).first()
        return None if row is None else _channel(row)

    def channels(self, owner: str | None = None) -> list[ChannelRecord]:
        """Every channel (None), or one owner's, oldest first."""
        query = sa.select(push_tables.channels).order_by(
            push_tables.channels.c.created, push_tables.channels.c.id
        )
        if owner is not None:
            query = query.where(push_tables.channels.c.owner == owner)
        with self._read() as conn:
            return [_channel(row) for row in conn.execute(query)]

    def count_channels(self, owner: str) -> int:
        query = sa.select(sa.func.count()).where(push_tables.channels.c.owner == owner)
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def delete_channel(self, channel_id: str, owner: str | None = None) -> bool:
        """Delete a channel (only the owner's when `owner` is given) and its outbox rows."""
        c = push_tables.channels.c
        where = [c.id == channel_id] if owner is None else [c.id == channel_id, c.owner == owner]
        with self._write() as conn:
            # Explicitly, not only by the foreign key's cascade: SQLite enforces it only with the
            # foreign_keys pragma, which a connection made outside calsync.store.make_engine lacks.
            if conn.execute(sa.select(c.id).where(*where)).first() is None:
                return False
            conn.execute(sa.delete(push_tables.outbox).where(push_tables.outbox.c.channel_id == channel_id))
            conn.execute(sa.delete(push_tables.channels).where(c.id == channel_id))
        return True

    def disable_channel(self, channel_id: str, reason: str) -> None:
        """Stop delivering to a channel: it is kept (its owner sees why) and its pending rows die."""
        with self._write() as conn:
            conn.execute(
                sa.update(push_tables.channels)
                .where(push_tables.channels.c.id == channel_id)
                .values(status="disabled", disabled_reason=rules.clean_text(reason))
            )
            o = push_tables.outbox.c
            conn.execute(
                sa.update(push_tables.outbox)
                .where(o.channel_id == channel_id, o.next_attempt_at.is_not(None))
                .values(next_attempt_at=None, dead=True, last_error="the channel was disabled")
            )

    # -- publishing ----------------------------------------------------------------------------------

    def enqueue(
        self,
        event_type: str,
        now: datetime,
        row_for: Callable[[ChannelRecord], NewRow | None],
        *,
        milestone: tuple[str, str] | None = None,
    ) -> int:
        """In one transaction: for every active channel for which `row_for` gives a row, insert it, due
        now. With `milestone` (kind, scope), nothing is inserted unless this is the first time that
        milestone is reached (it is recorded in the same transaction). Returns the rows inserted."""
        rules.check_aware("now", now)
        with self._write() as conn:
            if milestone is not None and not self._first(conn, milestone, now):
                return 0
            active = conn.execute(
                sa.select(push_tables.channels).where(push_tables.channels.c.status == "active")
            )
            rows = []
            for channel in (_channel(r) for r in active):
                made = row_for(channel)
                if made is not None:
                    rows.append(_new_row(channel.id, event_type, made, now))
            if rows:
                conn.execute(sa.insert(push_tables.outbox), rows)
        return len(rows)

    def _first(self, conn: Connection, milestone: tuple[str, str], now: datetime) -> bool:
        kind, scope = milestone
        inserted = conn.execute(
            self._insert(conn, push_tables.push_milestones)
            .values(kind=kind, scope=scope, at=now)
            .on_conflict_do_nothing(index_elements=["kind", "scope"])
            .returning(push_tables.push_milestones.c.kind)
        ).first()
        return inserted is not None

    # -- delivering ---------------------------------------------------------------------------------

    def claim_due(self, now: datetime, *, limit: int, lease: timedelta) -> list[Claim]:
        """Take up to `limit` due rows of active channels, oldest due first: each is due again only after
        `lease` (so a deliverer that dies mid-attempt leaves it to another), its attempt counted."""
        rules.check_aware("now", now)
        o, c = push_tables.outbox.c, push_tables.channels.c
        query = (
            sa.select(push_tables.outbox, *[col.label(f"ch_{col.name}") for col in push_tables.channels.c])
            .join(push_tables.channels, c.id == o.channel_id)
            .where(o.next_attempt_at <= now, c.status == "active")
            .order_by(o.next_attempt_at, o.id)
            .limit(limit)
        )
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=push_tables.outbox)
            rows = conn.execute(query).all()
            if not rows:
                return []
            ids = [row.id for row in rows]
            conn.execute(
                sa.update(push_tables.outbox)
                .where(o.id.in_(ids))
                .values(next_attempt_at=now + lease, attempts=o.attempts + 1)
            )
        return [Claim(_claimed(row), _channel(row, prefix="ch_")) for row in rows]

    def mark_delivered(self, claim: Claim, now: datetime, status: int) -> bool:
        return self._mark(claim, next_attempt_at=None, delivered_at=now, last_status=status, last_error=None)

    def reschedule(self, claim: Claim, at: datetime, status: int | None, error: str) -> bool:
        return self._mark(claim, next_attempt_at=at, last_status=status, last_error=rules.clean_text(error))

    def mark_dead(self, claim: Claim, status: int | None, error: str) -> bool:
        return self._mark(claim, next_attempt_at=None, dead=True, last_status=status,
                          last_error=rules.clean_text(error))  # fmt: skip

    def _mark(self, claim: Claim, **values: Any) -> bool:
        """Record an attempt's outcome, only if the row is still this claim's (same attempt count)."""
        o = push_tables.outbox.c
        with self._write() as conn:
            done = conn.execute(
                sa.update(push_tables.outbox)
                .where(o.id == claim.item.id, o.attempts == claim.item.attempts)
                .values(**values)
                .returning(o.id)
            ).first()
        return done is not None

    def next_due(self) -> datetime | None:
        """The earliest time a row of an active channel is due (None: nothing pending)."""
        o, c = push_tables.outbox.c, push_tables.channels.c
        query = (
            sa.select(sa.func.min(o.next_attempt_at))
            .join(push_tables.channels, c.id == o.channel_id)
            .where(o.next_attempt_at.is_not(None), c.status == "active")
        )
        with self._read() as conn:
            value: datetime | None = conn.execute(query).scalar_one_or_none()  # typed by the column
        return value

    # -- reading and housekeeping --------------------------------------------------------------------

    def deliveries(self, channel_id: str | None = None, *, limit: int = 50) -> list[OutboxRecord]:
        """The newest outbox rows (of one channel, or all), newest first: the admin pages' view."""
        rules.check_count("limit", limit)
        query = sa.select(push_tables.outbox).order_by(push_tables.outbox.c.id.desc()).limit(limit)
        if channel_id is not None:
            query = query.where(push_tables.outbox.c.channel_id == channel_id)
        with self._read() as conn:
            return [_outbox(row) for row in conn.execute(query)]

    def pending_count(self) -> int:
        """Rows not yet delivered nor given up (the outbox's depth)."""
        query = sa.select(sa.func.count()).where(push_tables.outbox.c.next_attempt_at.is_not(None))
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def purge_outbox(self, before: datetime) -> int:
        """Delete delivered and dead rows created before `before`; pending rows are never purged."""
        o = push_tables.outbox.c
        with self._write() as conn:
            result = conn.execute(
                sa.delete(push_tables.outbox).where(o.next_attempt_at.is_(None), o.created < before)
            )
        return int(result.rowcount or 0)


def _new_row(channel_id: str, event_type: str, made: NewRow, now: datetime) -> dict[str, Any]:
    payload, webhook_id = made
    return {
        "channel_id": channel_id,
        "event_type": event_type,
        "payload": payload,
        "webhook_id": webhook_id,
        "attempts": 0,
        "created": now,
        "next_attempt_at": now,
        "last_status": None,
        "last_error": None,
        "delivered_at": None,
        "dead": False,
    }


def _channel_values(channel: ChannelRecord) -> dict[str, Any]:
    return {
        "id": channel.id,
        "owner": channel.owner,
        "callback_url": channel.callback_url,
        "filters": channel.filters,
        "secret": channel.secret,
        "cronofy_signature": channel.cronofy_signature,
        "status": channel.status,
        "disabled_reason": channel.disabled_reason,
        "created": channel.created,
    }


def _channel(row: Row[Any], prefix: str = "") -> ChannelRecord:
    m = row._mapping
    return ChannelRecord(
        id=m[f"{prefix}id"],
        owner=m[f"{prefix}owner"],
        callback_url=m[f"{prefix}callback_url"],
        filters=dict(m[f"{prefix}filters"] or {}),
        secret=m[f"{prefix}secret"],
        cronofy_signature=bool(m[f"{prefix}cronofy_signature"]),
        status=m[f"{prefix}status"],
        disabled_reason=m[f"{prefix}disabled_reason"],
        created=m[f"{prefix}created"],
    )


def _outbox(row: Row[Any]) -> OutboxRecord:
    m = row._mapping
    return OutboxRecord(**{name: m[name] for name in _OUTBOX_FIELDS})


def _claimed(row: Row[Any]) -> OutboxRecord:
    """The row as claimed: its attempt counted (the UPDATE ran after the SELECT that read it)."""
    item = _outbox(row)
    return OutboxRecord(**{**{n: getattr(item, n) for n in _OUTBOX_FIELDS}, "attempts": item.attempts + 1})


_OUTBOX_FIELDS: Sequence[str] = (
    "id",
    "channel_id",
    "event_type",
    "payload",
    "webhook_id",
    "attempts",
    "created",
    "next_attempt_at",
    "last_status",
    "last_error",
    "delivered_at",
    "dead",
)

"""The state store's tables, in SQLAlchemy Core.

The tables hold observations, not work (architecture.md): what calsync last wrote to each mailbox
(`mappings`), what it refused to retry (`quarantine`), what each run did (`runs`), how each source and
each calendar's change feed were last read (`source_state`, `delta_links`), who may run a mailbox now
(`leases`) and which mailboxes have left their profile's selection and since when (`departures`).
Deleting the database loses no calendar data: the next sync adopts managed events by their tag.

The schema is created and changed only by the Alembic migrations in `calsync/store/migrations`; the tests
check that the migrated schema equals these tables. `NAMING_CONVENTION` gives every constraint and index a
deterministic name, which Alembic's batch mode needs to alter tables on SQLite (it recreates the table, so
it must be able to name what it copies) and which keeps the names identical on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from calsync.store.records import MAPPING_STATES, RUN_STATUSES

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _one_of(column: str, values: tuple[str, ...]) -> str:
    """A CHECK expression as plain SQL text, so the migration can state exactly the same text."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UtcDateTime(sa.TypeDecorator[datetime]):
    """An aware datetime, stored in UTC and always read back aware (UTC).

    SQLite has no time-zone type: SQLAlchemy would silently drop the offset of an aware value and read a
    naive one back. Converting to UTC on the way in makes the stored text sort in time order on SQLite
    (the lease and last-run queries compare it) and makes both backends return equal values.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("calsync stores only timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def copy(self, **kw: Any) -> UtcDateTime:
        return UtcDateTime()


metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

mappings = sa.Table(
    "mappings",
    metadata,
    sa.Column("mailbox", sa.String, nullable=False),
    sa.Column("source_key", sa.String, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("transaction_id", sa.String, nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("remote_id", sa.String, nullable=True),
    sa.Column("change_key", sa.String, nullable=True),
    sa.Column("content_hash", sa.String, nullable=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # The primary key is the unique (mailbox, source_key); its index also serves every per-mailbox query
    # (a leading-column prefix), so a separate index on (mailbox) would only slow down writes.
    sa.PrimaryKeyConstraint("mailbox", "source_key"),
    sa.CheckConstraint(_one_of("state", MAPPING_STATES), name="state"),
    sa.CheckConstraint("generation >= 0 AND failures >= 0", name="counters"),
    # Change notifications and delta pages name events by remote id.
    sa.Index(None, "mailbox", "remote_id"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("mailbox", sa.String, nullable=False),
    sa.Column("started", UtcDateTime, nullable=False),
    sa.Column("finished", UtcDateTime, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created", sa.Integer, nullable=False),
    sa.Column("updated", sa.Integer, nullable=False),
    sa.Column("deleted", sa.Integer, nullable=False),
    sa.Column("adopted", sa.Integer, nullable=False),
    sa.Column("unchanged", sa.Integer, nullable=False),
    sa.Column("failed", sa.Integer, nullable=False),
    sa.Column("quarantined", sa.Integer, nullable=False),
    sa.Column("error_code", sa.String, nullable=True),
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("problems", sa.JSON, nullable=False),
    # A run is identified by (mailbox, started): recording it again (at its start, then at its end)
    # replaces the row. The index also finds the latest run per mailbox.
    sa.UniqueConstraint("mailbox", "started"),
    sa.CheckConstraint(_one_of("status", RUN_STATUSES), name="status"),
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("mailbox", sa.String, nullable=False),
    sa.Column("source_key", sa.String, nullable=False),
    sa.Column("code", sa.String, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("since", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("mailbox", "source_key"),
)

source_state = sa.Table(
    "source_state",
    metadata,
    # A hash of the source's URL or a configured source id, never the URL itself: feed URLs often carry
    # an access token in the query string (see calsync.store.records.source_state_key).
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("etag", sa.String, nullable=True),
    sa.Column("last_modified", sa.String, nullable=True),  # the HTTP header, echoed back verbatim
    sa.Column("last_ok_at", UtcDateTime, nullable=True),
    sa.Column("last_item_count", sa.Integer, nullable=True),  # for the shrink guard
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

delta_links = sa.Table(
    "delta_links",
    metadata,
    sa.Column("mailbox", sa.String, nullable=False),
    sa.Column("calendar_id", sa.String, nullable=False),
    sa.Column("delta_link", sa.Text, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("mailbox", "calendar_id"),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("mailbox", sa.String, primary_key=True),
    sa.Column("owner", sa.String, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
)

departures = sa.Table(
    "departures",
    metadata,
    # A mailbox's scope (calsync.store.scoped) that a successful read of its profile's selection no
    # longer named, and when that was first seen: the profile's events go once the grace period passed.
    sa.Column("mailbox", sa.String, primary_key=True),
    sa.Column("since", UtcDateTime, nullable=False),
)

# -- push to subscribers (issue 11, item 2; calsync.services.push) -----------------------------------

channels = sa.Table(
    "channels",
    metadata,
    # A subscriber's endpoint: "chn_" + random. Owned by the API key that made it (`owner`, the key's
    # id), or by an operator (`owner` "cli").
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("owner", sa.String, nullable=False),
    sa.Column("callback_url", sa.Text, nullable=False),
    # {"calendar_ids": [...] | null, "only_managed": bool, "event_types": [...] | null, "echo": bool}
    sa.Column("filters", sa.JSON, nullable=False),
    # The whsec_ signing secret, encrypted (Fernet under the deployment's key, bound to the channel id):
    # a dump of the database never holds it in the clear (calsync.services.push.secretbox).
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("cronofy_signature", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("disabled_reason", sa.Text, nullable=True),
    sa.Column("created", UtcDateTime, nullable=False),
    sa.CheckConstraint("status IN ('active', 'disabled')", name="status"),
    sa.Index(None, "owner"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    # One notification for one channel: written in the same transaction as the decision to notify,
    # removed from the due set once delivered, given up (dead) after the retry schedule.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "channel_id",
        sa.String(40),
        sa.ForeignKey("channels.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # the exact JSON body every attempt sends and signs
    sa.Column("webhook_id", sa.String(40), nullable=False),  # Standard Webhooks' id, the same on retries
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created", UtcDateTime, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime, nullable=True),  # None: delivered or dead (not due again)
    sa.Column("last_status", sa.Integer, nullable=True),  # the last attempt's HTTP status; None: no answer
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("delivered_at", UtcDateTime, nullable=True),
    sa.Column("dead", sa.Boolean, nullable=False),
    sa.UniqueConstraint("webhook_id"),
    sa.CheckConstraint("attempts >= 0", name="attempts"),
    # The deliverer's one question, "what is due now", is a range scan of this index.
    sa.Index(None, "next_attempt_at"),
    sa.Index(None, "channel_id", "id"),
)

push_milestones = sa.Table(
    "push_milestones",
    metadata,
    # Once-only notifications (`profile.initial_sync_completed`): the first insert of (kind, scope)
    # wins, so the event is published once however many workers finish a first run at the same time.
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("scope", sa.String, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("kind", "scope"),
)

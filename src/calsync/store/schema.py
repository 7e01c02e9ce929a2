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

graph_subscriptions = sa.Table(
    "graph_subscriptions",
    metadata,
    # One Graph change-notification subscription per synced scope (calsync.store.scoped: the mailbox, or
    # `profile:mailbox`) on the mailbox's events (calsync.services.notifications).
    sa.Column("scope", sa.String, primary_key=True),
    sa.Column("subscription_id", sa.String, nullable=True),  # None until Graph created one
    sa.Column("resource", sa.String, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=True),
    # SHA-256 of the clientState sent at creation, never the secret itself: a notification's clientState
    # is hashed and compared in constant time, and a database dump cannot forge notifications.
    sa.Column("client_state_hash", sa.String(64), nullable=True),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("last_event", sa.String(32), nullable=True),  # the last lifecycle event Graph sent
    sa.Column("last_event_at", UtcDateTime, nullable=True),
    sa.Column("error", sa.Text, nullable=True),  # why the last create or renewal failed
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.CheckConstraint(
        _one_of("status", ("active", "reauthorization_required", "removed", "failed")), name="status"
    ),
    sa.UniqueConstraint("subscription_id"),
)

admin_audit = sa.Table(
    "admin_audit",
    metadata,
    # Every action an administrator took on the pages (and each admin sign-in, refused or not): who
    # (the display name and the stable tid:oid key), what, on which mailbox, and how it ended.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor", sa.String, nullable=False),
    sa.Column("actor_key", sa.String, nullable=False),
    sa.Column("action", sa.String, nullable=False),
    sa.Column("target", sa.String, nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Index(None, "at"),
)

admin_bootstrap = sa.Table(
    "admin_bootstrap",
    metadata,
    # One-time tokens for the first administrator (`calsync admin bootstrap`): only their SHA-256 is kept.
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime, nullable=True),
)

# Issue 9 (delegated permissions): one row per person who connected their own calendar, the sign-in
# flows under way, and what happened to connections (calsync.store.connections).
CONNECTION_STATUSES: tuple[str, ...] = ("pending", "connected", "paused", "disconnected")

connections = sa.Table(
    "connections",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # unguessable (secrets.token_urlsafe), in URLs
    sa.Column("tenant_id", sa.String, nullable=False),
    # msal's home_account_id ("<oid>.<tid>"): the person, keyed by object id and tenant, never by
    # their e-mail address, which Entra lets change (nOAuth).
    sa.Column("home_account_id", sa.String, nullable=False),
    sa.Column("mailbox", sa.String, nullable=False),
    sa.Column("profile", sa.String, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.String, nullable=True),  # why it is paused or disconnected (a code)
    sa.Column("status_at", UtcDateTime, nullable=False),
    sa.Column("preferences", sa.JSON, nullable=False),
    sa.Column("token_cache", sa.Text, nullable=True),  # msal's cache, sealed (calsync.store.vault)
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("tenant_id", "home_account_id"),
    sa.CheckConstraint(_one_of("status", CONNECTION_STATUSES), name="status"),
    sa.Index(None, "mailbox"),
)

connect_flows = sa.Table(
    "connect_flows",
    metadata,
    # A sign-in under way, found by a digest of its `state` and bound to a digest of the browser
    # session that began it; the flow (PKCE verifier, nonce) is sealed. Deleted when it is used.
    sa.Column("state_digest", sa.String(64), primary_key=True),
    sa.Column("session_digest", sa.String(64), nullable=False),
    sa.Column("flow", sa.Text, nullable=False),
    sa.Column("relink", sa.String(64), nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

connection_events = sa.Table(
    "connection_events",
    metadata,
    # What happened to connections, for subscribers (notifications): connected, disconnected, ...
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connection_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("reason", sa.String, nullable=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Index(None, "connection_id"),
)

# The REST API's tables live in their own module on the same metadata (imported last: it imports this one).
from calsync.store import api_tables as _api_tables  # noqa: E402,F401

# Push channels, their outbox and milestones (issue 11, item 2), the same way.
from calsync.store import push_tables as _push_tables  # noqa: E402,F401

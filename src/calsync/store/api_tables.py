"""The REST API's tables (migration 0006): API keys and the events pushed through `/v1`.

Kept beside calsync.store.schema, on the same `metadata`, so that the migrated schema is checked against
them like every other table; schema.py imports this module at its end.
"""

from __future__ import annotations

import sqlalchemy as sa

from calsync.store.schema import UtcDateTime, metadata

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    # The key's public part (it is shown in listings and logs); the secret part is known only by its hash.
    sa.Column("prefix", sa.String(32), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("created", UtcDateTime, nullable=False),
    sa.Column("last_used", UtcDateTime, nullable=True),
    sa.Column("revoked", UtcDateTime, nullable=True),
    sa.UniqueConstraint("prefix"),
)

api_events = sa.Table(
    "api_events",
    metadata,
    sa.Column("key_id", sa.String(32), sa.ForeignKey("api_keys.id"), nullable=False),
    sa.Column("calendar_id", sa.String, nullable=False),  # the API's calendar id (mailbox + Graph id)
    sa.Column("event_id", sa.String, nullable=False),  # the caller's own id
    sa.Column("mailbox", sa.String, nullable=False),
    # The engine profile of the key and calendar (calsync.services.unified_ids.scope_profile): a run of
    # (profile, mailbox) reads its rows by this index.
    sa.Column("profile", sa.String(64), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),  # the event as accepted (calsync.services.unified)
    sa.Column("deleted", sa.Boolean, nullable=False),
    # Every time the event ever covered (it only grows): the engine's window for the calendar must
    # include where an earlier version may still stand in Graph, or a moved-then-deleted event is orphaned.
    sa.Column("span_start", UtcDateTime, nullable=False),
    sa.Column("span_end", UtcDateTime, nullable=False),
    sa.Column("updated", UtcDateTime, nullable=False, index=True),
    sa.PrimaryKeyConstraint("key_id", "calendar_id", "event_id"),
    sa.Index(None, "profile", "mailbox"),
)

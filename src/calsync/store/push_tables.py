"""Push to subscribers' tables (migration 0007): channels, their outbox and once-only milestones.

Kept beside calsync.store.schema, on the same `metadata`, so that the migrated schema is checked against
them like every other table; schema.py imports this module at its end. calsync.store.sqlpush reads and
writes them.
"""

from __future__ import annotations

import sqlalchemy as sa

from calsync.store.schema import UtcDateTime, metadata

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

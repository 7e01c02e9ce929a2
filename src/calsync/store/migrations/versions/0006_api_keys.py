"""API keys and the events pushed through the REST API (issue 11, item 1).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

`api_keys` holds each key's public id, its name, scopes and a SHA-256 of the key (never the key: it is
shown once, when created). `api_events` is the REST API's source of desired events: a POST stores the
event here (the durable record of what the caller asked for) and answers 202; the sync engine then
writes it to Graph under the key's own ownership tag, like any other source. New tables only, so the
downgrade drops them (the events already in Graph stay, tagged; a later sync of the same key adopts them).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_table(
        "api_events",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("calendar_id", sa.String(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("mailbox", sa.String(), nullable=False),
        sa.Column("profile", sa.String(64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("span_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("span_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "calendar_id", "event_id", name=op.f("pk_api_events")),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], name=op.f("fk_api_events_key_id_api_keys")),
    )
    op.create_index(op.f("ix_api_events_updated"), "api_events", ["updated"])
    op.create_index(op.f("ix_api_events_profile_mailbox"), "api_events", ["profile", "mailbox"])


def downgrade() -> None:
    op.drop_index(op.f("ix_api_events_profile_mailbox"), table_name="api_events")
    op.drop_index(op.f("ix_api_events_updated"), table_name="api_events")
    op.drop_table("api_events")
    op.drop_table("api_keys")

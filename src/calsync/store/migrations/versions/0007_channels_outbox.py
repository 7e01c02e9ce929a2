"""Push to subscribers: channels, their outbox and once-only milestones (issue 11, item 2).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

New tables only, so downgrading drops them (pending notifications are lost with them, which loses no
calendar data: subscribers read the calendars again when they resubscribe).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("callback_url", sa.Text(), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("cronofy_signature", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
        sa.CheckConstraint("status IN ('active', 'disabled')", name=op.f("ck_channels_status")),
    )
    with op.batch_alter_table("channels") as batch_op:
        batch_op.create_index(batch_op.f("ix_channels_owner"), ["owner"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel_id", sa.String(length=40), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("webhook_id", sa.String(length=40), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dead", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_outbox_channel_id_channels"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint("webhook_id", name=op.f("uq_outbox_webhook_id")),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_outbox_attempts")),
    )
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_next_attempt_at"), ["next_attempt_at"])
        batch_op.create_index(batch_op.f("ix_outbox_channel_id_id"), ["channel_id", "id"])
    op.create_table(
        "push_milestones",
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "scope", name=op.f("pk_push_milestones")),
    )


def downgrade() -> None:
    op.drop_table("push_milestones")
    op.drop_table("outbox")
    op.drop_table("channels")

"""Graph change-notification subscriptions, one per synced mailbox (issue 11, item 3).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

A new table only: nothing earlier changes, so downgrading just drops it. The subscriptions themselves live
in Graph and expire by themselves within days; a downgraded calsync simply stops renewing them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "graph_subscriptions",
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("subscription_id", sa.String(), nullable=True),
        sa.Column("resource", sa.String(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("client_state_hash", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("last_event", sa.String(length=32), nullable=True),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'reauthorization_required', 'removed', 'failed')",
            name=op.f("ck_graph_subscriptions_status"),
        ),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_graph_subscriptions")),
        sa.UniqueConstraint("subscription_id", name=op.f("uq_graph_subscriptions_subscription_id")),
    )


def downgrade() -> None:
    op.drop_table("graph_subscriptions")

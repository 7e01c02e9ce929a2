"""Connections: people who connected their own calendar with delegated permissions (issue 9).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

Three new tables, nothing earlier changes: `connections` (one per person, their msal token cache
sealed with the deployment's token key, never in clear), `connect_flows` (sign-ins under way, sealed
too) and `connection_events` (what happened to connections, for notifications). Downgrading drops them,
which forgets every connection and its tokens (people connect again); no calendar data is lost.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("home_account_id", sa.String(), nullable=False),
        sa.Column("mailbox", sa.String(), nullable=False),
        sa.Column("profile", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("preferences", sa.JSON(), nullable=False),
        sa.Column("token_cache", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connections")),
        sa.UniqueConstraint(
            "tenant_id", "home_account_id", name=op.f("uq_connections_tenant_id_home_account_id")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'connected', 'paused', 'disconnected')", name=op.f("ck_connections_status")
        ),
    )
    op.create_index(op.f("ix_connections_mailbox"), "connections", ["mailbox"])
    op.create_table(
        "connect_flows",
        sa.Column("state_digest", sa.String(length=64), nullable=False),
        sa.Column("session_digest", sa.String(length=64), nullable=False),
        sa.Column("flow", sa.Text(), nullable=False),
        sa.Column("relink", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("state_digest", name=op.f("pk_connect_flows")),
    )
    op.create_table(
        "connection_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("connection_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connection_events")),
    )
    op.create_index(op.f("ix_connection_events_connection_id"), "connection_events", ["connection_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_connection_events_connection_id"), table_name="connection_events")
    op.drop_table("connection_events")
    op.drop_table("connect_flows")
    op.drop_index(op.f("ix_connections_mailbox"), table_name="connections")
    op.drop_table("connections")

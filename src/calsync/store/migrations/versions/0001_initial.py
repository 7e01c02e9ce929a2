"""The first tables: mappings, runs, quarantine, source fetch state, delta links and leases.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

Migrations are frozen history: they spell out types and names instead of importing calsync.store.schema,
so that later changes to the models never rewrite what an old migration did. Timestamps are
`DateTime(timezone=True)`, the type `calsync.store.schema.UtcDateTime` is stored as.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "mappings",
        sa.Column("mailbox", sa.String(), nullable=False),
        sa.Column("source_key", sa.String(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("transaction_id", sa.String(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("remote_id", sa.String(), nullable=True),
        sa.Column("change_key", sa.String(), nullable=True),
        sa.Column("content_hash", sa.String(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("mailbox", "source_key", name=op.f("pk_mappings")),
        sa.CheckConstraint(
            "state IN ('creating', 'synced', 'user_deleted', 'detached', 'deleting')",
            name=op.f("ck_mappings_state"),
        ),
        sa.CheckConstraint("generation >= 0 AND failures >= 0", name=op.f("ck_mappings_counters")),
    )
    with op.batch_alter_table("mappings") as batch_op:
        batch_op.create_index(batch_op.f("ix_mappings_mailbox_remote_id"), ["mailbox", "remote_id"])

    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mailbox", sa.String(), nullable=False),
        _timestamp("started"),
        _timestamp("finished", nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("adopted", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("quarantined", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint("mailbox", "started", name=op.f("uq_runs_mailbox_started")),
        sa.CheckConstraint(
            "status IN ('ok', 'partial', 'failed', 'stopped', 'skipped')", name=op.f("ck_runs_status")
        ),
    )

    op.create_table(
        "quarantine",
        sa.Column("mailbox", sa.String(), nullable=False),
        sa.Column("source_key", sa.String(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        _timestamp("since"),
        sa.PrimaryKeyConstraint("mailbox", "source_key", name=op.f("pk_quarantine")),
    )

    op.create_table(
        "source_state",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("etag", sa.String(), nullable=True),
        sa.Column("last_modified", sa.String(), nullable=True),
        _timestamp("last_ok_at", nullable=True),
        sa.Column("last_item_count", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_source_state")),
    )

    op.create_table(
        "delta_links",
        sa.Column("mailbox", sa.String(), nullable=False),
        sa.Column("calendar_id", sa.String(), nullable=False),
        sa.Column("delta_link", sa.Text(), nullable=False),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("mailbox", "calendar_id", name=op.f("pk_delta_links")),
    )

    op.create_table(
        "leases",
        sa.Column("mailbox", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        _timestamp("expires_at"),
        sa.PrimaryKeyConstraint("mailbox", name=op.f("pk_leases")),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_table("delta_links")
    op.drop_table("source_state")
    op.drop_table("quarantine")
    op.drop_table("runs")
    with op.batch_alter_table("mappings") as batch_op:
        batch_op.drop_index(batch_op.f("ix_mappings_mailbox_remote_id"))
    op.drop_table("mappings")

"""Departures: mailboxes that left their profile's selection, and since when (offboarding, issue 10).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-14

A mailbox that a successful read of its profile's selection (the list, the group, the export) no longer
names is marked here; once the profile's grace period has passed, its events are removed. A new table
only: nothing earlier changes, so downgrading just drops it (pending departures are forgotten, which
deletes nothing).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "departures",
        sa.Column("mailbox", sa.String(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("mailbox", name=op.f("pk_departures")),
    )


def downgrade() -> None:
    op.drop_table("departures")

"""Runs may end `not_applicable`: a member without an Exchange Online mailbox (unlicensed, on-premises).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07

Such members are common in a group that is synced (staff on leave, new students not yet licensed); calling
their runs failures made every run of the deployment exit 6, so they get a status of their own. The CHECK
constraint is replaced through batch mode, which recreates the table on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "status IN ('ok', 'partial', 'failed', 'stopped', 'skipped')"
_NEW = "status IN ('ok', 'partial', 'failed', 'stopped', 'skipped', 'not_applicable')"


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint(op.f("ck_runs_status"), type_="check")
        batch.create_check_constraint(op.f("ck_runs_status"), _NEW)


def downgrade() -> None:
    op.execute("UPDATE runs SET status = 'failed' WHERE status = 'not_applicable'")
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint(op.f("ck_runs_status"), type_="check")
        batch.create_check_constraint(op.f("ck_runs_status"), _OLD)

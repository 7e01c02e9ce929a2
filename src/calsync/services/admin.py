"""Database administration: the state schema (Alembic) and, on PostgreSQL, the job queue's schema."""

from __future__ import annotations

from calsync.settings import Settings
from calsync.store import database_url, upgrade


def uses_job_queue(settings: Settings) -> bool:
    """PostgreSQL deployments run their syncs as Procrastinate jobs (`calsync worker`)."""
    return database_url(settings.database_url).get_backend_name() == "postgresql"


def upgrade_database(settings: Settings) -> tuple[str | None, str | None]:
    """Migrate the state database. Returns (state revision, job-queue status or None)."""
    return upgrade(settings.database_url), None

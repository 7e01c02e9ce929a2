"""`calsync db upgrade`: the state schema (Alembic) and, on PostgreSQL, the job queue's schema."""

from __future__ import annotations

import asyncio

from calsync.settings import Settings
from calsync.store import database_url, upgrade


def uses_job_queue(settings: Settings) -> bool:
    """PostgreSQL deployments run their syncs as Procrastinate jobs (`calsync worker`)."""
    return database_url(settings.database_url).get_backend_name() == "postgresql"


def upgrade_database(settings: Settings) -> tuple[str | None, str | None]:
    """Migrate the state database; on PostgreSQL also install the job queue's schema if missing.
    Returns (state revision, what happened to the job queue's schema, or None on SQLite)."""
    revision = upgrade(settings.database_url)
    if not uses_job_queue(settings):
        return revision, None
    from calsync.runtime import jobs

    async def ensure() -> bool:
        app = jobs.build_app(jobs.conninfo_from_url(settings.database_url), None, pool_max_size=2)
        async with app.open_async():
            return await jobs.ensure_schema(app)

    return revision, "installed" if asyncio.run(ensure()) else "present"

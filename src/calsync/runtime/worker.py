"""`calsync worker`: run sync jobs from the PostgreSQL queue until SIGTERM.

Each job is one run of one mailbox (calsync.services.sync_mailbox); Procrastinate's per-mailbox `lock`
means one worker owns a mailbox at a time, so the 4-requests-in-flight-per-mailbox limit, enforced by
each process's Graph client, holds across workers. The app's request budget (requests_per_second) is
divided among the live workers (calsync.runtime.jobs.watch_budget). Failures worth retrying (the calendar
could not be read, the run was interrupted by a shutdown, another process held the mailbox) are raised
as TransientRunError and retried with backoff; the rest end the job with the run's status.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from calsync import services
from calsync.runtime import jobs
from calsync.services import Deployment
from calsync.services.unified_ids import is_api_profile
from calsync.store.scoped import split_scope
from calsync.sync.guard import LEASE_LOST, SHUTTING_DOWN
from calsync.sync.ports import RunReport

TRANSIENT = {
    ("failed", "unavailable"),
    ("stopped", SHUTTING_DOWN),
    ("stopped", LEASE_LOST),
    ("skipped", "Busy"),
}


def transient(report: RunReport, profile: str | None = None) -> bool:
    """A run worth retrying soon: the cause is outside the mailbox and likely to pass. An API profile's
    run that left writes undone is retried too: its caller got a 202 and will not ask again."""
    if is_api_profile(profile) and report.status in ("partial", "failed", "stopped", "skipped"):
        return True
    return (report.status, report.error_code) in TRANSIENT


def handlers(deployment: Deployment) -> jobs.JobHandlers:
    """A job's `mailbox` is a scope (`profile:mailbox`, or the bare mailbox of the default profile):
    the fan-out defers one job per profile and mailbox."""

    async def sync(scope: str, full: bool) -> str:
        profile, mailbox = split_scope(scope)
        report = await services.sync_mailbox(deployment, mailbox, profile=profile, full=full)
        if transient(report, profile):
            raise jobs.TransientRunError(f"{report.error_code}: {report.message}")
        return report.status

    async def mailboxes() -> list[str]:
        return await services.scopes(deployment)

    return jobs.JobHandlers(sync, mailboxes)


def daily_utc(deployment: Deployment) -> str:
    """`full_sync_at` in `full_sync_zone`, as today's UTC HH:MM (Procrastinate's cron runs in UTC)."""
    from zoneinfo import ZoneInfo

    s = deployment.settings
    local = datetime.now(ZoneInfo(s.full_sync_zone)).replace(
        hour=s.full_sync_at.hour, minute=s.full_sync_at.minute, second=0, microsecond=0
    )
    return local.astimezone(UTC).strftime("%H:%M")


async def run(deployment: Deployment, *, concurrency: int, name: str | None = None) -> None:
    """Run jobs until SIGTERM/SIGINT: running jobs finish, the worker unregisters, this returns."""
    s = deployment.settings
    app = jobs.build_app(
        jobs.conninfo_from_url(s.database_url),
        handlers(deployment),
        sync_interval_s=round(s.sync_interval_minutes * 60),
        full_sync_at=daily_utc(deployment),
        purge_after_hours=s.finished_jobs_kept_hours,
        pool_max_size=min(concurrency, 8) + 4,
    )
    client = await deployment.graph()
    async with app.open_async():
        await jobs.ensure_schema(app)
        budget = asyncio.create_task(
            jobs.watch_budget(app, s.requests_per_second, client.limiter.rate.set_rate)
        )
        try:
            await jobs.run_worker(app, concurrency=concurrency, name=name)
        finally:
            budget.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await budget

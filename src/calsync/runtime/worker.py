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
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from procrastinate import App

from calsync import services
from calsync.runtime import jobs
from calsync.services import Deployment, push, subscribing
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


PUSH_HORIZON = timedelta(seconds=30)  # a delivery job waits for retries due this soon, not longer
PUSH_HOUSEKEEPING = timedelta(hours=1)


def push_handler(deployment: Deployment, deliverer: push.Deliverer) -> Callable[[], Awaitable[int]]:
    """The delivery job: send what is due, and stay for retries due within PUSH_HORIZON (the 5-second
    first retry), so they do not wait for the next minute's periodic job. Other workers' delivery jobs
    may run at the same time: the rows are claimed with SKIP LOCKED. Returns the rows attempted."""
    last_housekeeping: list[datetime] = []

    async def deliver() -> int:
        attempted = 0
        while True:
            attempted += (await deliverer.drain()).claimed
            now = deployment.clock()
            if not last_housekeeping or now - last_housekeeping[0] > PUSH_HOUSEKEEPING:
                await deliverer.housekeep()
                last_housekeeping[:] = [now]
            due = await deliverer.next_due()
            if due is None or due - now > PUSH_HORIZON:
                return attempted
            await asyncio.sleep(max(0.0, (due - now).total_seconds()))

    return deliver


def handlers(deployment: Deployment, deliverer: push.Deliverer | None = None) -> jobs.JobHandlers:
    """A job's `mailbox` is a scope (`profile:mailbox`, or the bare mailbox of the default profile):
    the fan-out defers one job per profile and mailbox. With a `deliverer`, the push task too."""

    async def sync(scope: str, full: bool) -> str:
        profile, mailbox = split_scope(scope)
        report = await services.sync_mailbox(deployment, mailbox, profile=profile, full=full)
        if transient(report, profile):
            raise jobs.TransientRunError(f"{report.error_code}: {report.message}")
        return report.status

    async def mailboxes() -> list[str]:
        return await services.scopes(deployment)

    async def subscriptions() -> list[str]:
        return (await subscribing.upkeep(deployment)).reconcile

    deliver = None if deliverer is None else push_handler(deployment, deliverer)
    return jobs.JobHandlers(sync, mailboxes, subscriptions=subscriptions, deliver_push=deliver)


def defer_push_on_publish(deployment: Deployment, app: App) -> None:
    """After each publish of this process, defer a delivery job (coalesced with a waiting one)."""
    pending: set[asyncio.Task[bool]] = set()

    def wake() -> None:
        task = asyncio.get_running_loop().create_task(jobs.defer_push(app))
        pending.add(task)
        task.add_done_callback(pending.discard)  # the minute's periodic job covers a failed defer

    deployment.outbox_listeners.append(wake)


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
    deliverer = push.deliverer(deployment)
    app = jobs.build_app(
        jobs.conninfo_from_url(s.database_url),
        handlers(deployment, deliverer),
        sync_interval_s=round(s.sync_interval_minutes * 60),
        full_sync_at=daily_utc(deployment),
        purge_after_hours=s.finished_jobs_kept_hours,
        pool_max_size=min(concurrency, 8) + 4,
    )
    client = await deployment.graph()
    defer_push_on_publish(deployment, app)
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
            await deliverer.aclose()

"""Operating the job runtime: schema, worker, housekeeping, and the numbers workers share Graph's budget by.

Sharing Graph's per-app request budget among workers: every worker registers itself in procrastinate's
`procrastinate_workers` table and refreshes its `last_heartbeat` every 10 s (procrastinate's default).
Each worker counts the workers whose heartbeat is fresher than `within_s` (`live_workers`) and takes
`requests_per_second / live workers` for its own limiter (`share_of_budget`), recomputed every
`every_s` seconds (`watch_budget`, 30 s by default). A worker that dies stops heartbeating and drops
out of the count within `within_s`, so the others grow their share back; a new worker is counted at
its first registration. Between two recomputations the sum of shares can overshoot briefly (a worker
joined); Graph's 429 with Retry-After, which the Graph client honours, covers that window.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from procrastinate import App, PsycopgConnector
from procrastinate.app import WorkerOptions
from procrastinate.exceptions import ConnectorException, UniqueViolation
from procrastinate.jobs import Status
from procrastinate.manager import QUEUEING_LOCK_CONSTRAINT
from procrastinate.schema import SchemaManager
from procrastinate.utils import utcnow

from calsync.runtime.jobs.errors import JobsError
from calsync.runtime.jobs.tasks import SYNC_TASK

log = logging.getLogger("calsync.runtime.jobs")

HEARTBEAT_WINDOW_S = 30.0  # procrastinate's stalled_worker_timeout: three missed 10 s heartbeats

# Keyed by schema: tests and deployments sharing one database in separate schemas do not serialise.
_SCHEMA_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtext('calsync.procrastinate-schema'), hashtext(current_schema()))"
)
_HAS_SCHEMA = "SELECT to_regclass('procrastinate_jobs') IS NOT NULL"
_QUEUE_DEPTH = "SELECT count(*) AS n FROM procrastinate_jobs WHERE status = 'todo'"
_LIVE_WORKERS = """
SELECT count(*) AS n FROM procrastinate_workers
 WHERE last_heartbeat > now() - make_interval(secs => %(within_s)s)
"""


async def ensure_schema(app: App) -> bool:
    """Apply procrastinate's schema unless it is there already; True when this call applied it.

    Safe to call from several processes at once (`calsync db upgrade` on each replica): a transaction-
    scoped advisory lock serialises them, and whoever comes second finds the tables and does nothing.
    The schema is created in the connection's `search_path` schema. Upgrading an existing schema to a
    newer procrastinate is a separate step (procrastinate's migrations), not done here.
    """
    connector = app.connector
    if not isinstance(connector, PsycopgConnector):
        raise JobsError("ensure_schema needs an app built by build_app (a psycopg connector)")
    async with connector.pool.connection() as conn, conn.transaction():
        await conn.execute(_SCHEMA_LOCK)
        row = await (await conn.execute(_HAS_SCHEMA)).fetchone()
        if row is not None and row[0]:
            return False
        await conn.execute(SchemaManager.get_schema())
    log.info("procrastinate schema applied")
    return True


async def queue_depth(app: App) -> int:
    """Jobs waiting to run (status `todo`, including retries scheduled for later)."""
    row = await app.connector.execute_query_one_async(query=_QUEUE_DEPTH)
    return int(row["n"])


async def live_workers(app: App, within_s: float = HEARTBEAT_WINDOW_S) -> int:
    """Workers whose heartbeat in `procrastinate_workers` is more recent than `within_s` seconds."""
    row = await app.connector.execute_query_one_async(query=_LIVE_WORKERS, within_s=within_s)
    return int(row["n"])


def share_of_budget(total_rps: float, live: int) -> float:
    """This worker's share of the app's request budget: an equal split among live workers (itself
    included; a worker that has not registered yet, live = 0, takes the whole budget)."""
    return total_rps / max(1, live)


async def watch_budget(
    app: App,
    total_rps: float,
    apply: Callable[[float], None],
    *,
    every_s: float = 30.0,
    within_s: float = HEARTBEAT_WINDOW_S,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Forever: count live workers, hand this worker's share to `apply` (e.g. the Graph limiter's rate
    setter), sleep `every_s`. A failed count keeps the previous share. Cancel the task to stop it."""
    while True:
        try:
            apply(share_of_budget(total_rps, await live_workers(app, within_s)))
        except ConnectorException:  # a database blip must not stop the worker; the old share stays
            log.warning("could not count live workers; keeping the current request budget", exc_info=True)
        await sleep(every_s)


async def purge_finished_jobs(app: App, older_than_hours: int) -> None:
    """Delete jobs that finished (succeeded, failed, cancelled, aborted) more than `older_than_hours`
    ago. Finished rows slow worker start-up and stalled-job pruning (procrastinate#1454)."""
    await app.job_manager.delete_old_jobs(
        nb_hours=older_than_hours, include_failed=True, include_cancelled=True, include_aborted=True
    )


async def recover_stalled(app: App, stalled_after_s: float = HEARTBEAT_WINDOW_S) -> int:
    """Put back in the queue the jobs left `doing` by workers that stopped heartbeating (killed, OOM,
    host lost); returns how many. Without this a killed worker's job keeps its mailbox's lock forever.

    A stalled job whose mailbox already has a pending job of the same kind cannot go back to `todo`
    (the queueing lock is taken): it is marked failed and the pending job does the work.
    """
    manager = app.job_manager
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after_s))
    for job in stalled:
        assert job.id is not None
        try:
            await manager.retry_job_by_id_async(job_id=job.id, retry_at=utcnow())
        except UniqueViolation as exc:
            if exc.constraint_name != QUEUEING_LOCK_CONSTRAINT:
                raise
            await manager.finish_job_by_id_async(job_id=job.id, status=Status.FAILED, delete_job=False)
        log.warning("recovered stalled job %s of a worker that stopped heartbeating", job.call_string)
    return len(stalled)


async def run_worker(
    app: App,
    *,
    concurrency: int,
    name: str | None = None,
    poll_interval_s: float = 5.0,
    install_signal_handlers: bool = True,
    shutdown_timeout_s: float | None = None,
) -> None:
    """Run a worker on the (open) app until SIGTERM or SIGINT, or until the task is cancelled.

    On a signal, procrastinate stops fetching, lets the running jobs finish (for at most
    `shutdown_timeout_s`, None = as long as they take; then they are aborted and retried later),
    unregisters the worker and returns, so the process exits 0. New jobs are noticed through
    LISTEN/NOTIFY at once, and by polling every `poll_interval_s` as a fallback.
    """
    if SYNC_TASK not in app.tasks:
        raise JobsError("this app was built without handlers: it can defer jobs but not run them")
    options: WorkerOptions = {
        "concurrency": concurrency,
        "fetch_job_polling_interval": poll_interval_s,
        "install_signal_handlers": install_signal_handlers,
    }
    if name is not None:
        options["name"] = name
    if shutdown_timeout_s is not None:
        options["shutdown_graceful_timeout"] = shutdown_timeout_s
    await app.run_worker_async(**options)

"""Building the Procrastinate app: the tasks, their periodic schedules and the connection to PostgreSQL.

The work itself is injected (`JobHandlers`): this module decides when a mailbox is synced, never what a
sync does, so it imports no service, Graph or source code.

Tasks registered when handlers are given (an app without handlers can only defer, for `calsync serve`):

- `calsync.sync_mailbox(mailbox, full)`: runs `handlers.sync_mailbox`, locked per mailbox (see
  `tasks`), retried with `Backoff` on `TransientRunError` only.
- `calsync.fan_out(timestamp, full)`: every `sync_interval_s`, and with full=True daily at
  `full_sync_at` (UTC), resolves `handlers.mailboxes()` again (group membership changes) and enqueues
  a sync for each. Procrastinate records each periodic defer in `procrastinate_periodic_defers` under a
  unique (task, periodic id, timestamp) key, so however many workers run, each period is deferred once.
- `calsync.purge_jobs`: hourly, deletes jobs finished more than `purge_after_hours` ago.
- `calsync.recover_stalled`: every minute, requeues jobs of workers that stopped heartbeating.
- `calsync.deliver_push` (when `handlers.deliver_push` is given): sends the push outbox's due rows;
  deferred by `defer_push` after a publish, and every minute for retries whose time has come.

A retry that meets a pending job of its mailbox: procrastinate retries a job by setting it back to
`todo` in place, and `todo` rows are unique per queueing lock. If the mailbox got a new pending job
while the failed attempt ran, that UPDATE violates the unique index, `retry_job` raises inside the
worker's bookkeeping, and the job stays `doing` with its `lock` held, blocking every later sync of that
mailbox until someone intervenes (checked by a test against procrastinate 3.10). The app's job
manager therefore turns that conflict into "this attempt failed; the pending job takes over".
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from procrastinate import App, PsycopgConnector
from procrastinate.exceptions import UniqueViolation
from procrastinate.jobs import Job, Status
from procrastinate.manager import QUEUEING_LOCK_CONSTRAINT, JobManager
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from calsync.runtime.jobs.enqueue import enqueue
from calsync.runtime.jobs.errors import JobsError
from calsync.runtime.jobs.ops import HEARTBEAT_WINDOW_S, purge_finished_jobs, recover_stalled
from calsync.runtime.jobs.schedule import Backoff, cron_every, daily_cron
from calsync.runtime.jobs.tasks import (
    FAN_OUT_TASK,
    HOUSEKEEPING_PRIORITY,
    PURGE_TASK,
    PUSH_QUEUEING_LOCK,
    PUSH_TASK,
    RECOVER_TASK,
    SUBSCRIPTIONS_TASK,
    SYNC_TASK,
)

log = logging.getLogger("calsync.runtime.jobs")


@dataclass(frozen=True)
class JobHandlers:
    """The work, as plain async callables built by the composition root from the services.

    `sync_mailbox(mailbox, full)` runs one sync and returns the run's status ("ok", "partial",
    "failed", ...); it raises `TransientRunError` for failures worth retrying. A returned "failed" is a
    run that ended and recorded why (a safety rail, a disconnected mailbox): the job succeeds and is
    not retried. `mailboxes()` returns every mailbox to sync now; it is called again at each periodic
    round.
    """

    sync_mailbox: Callable[[str, bool], Awaitable[str]]
    mailboxes: Callable[[], Awaitable[list[str]]]
    # Graph subscriptions (calsync.services.subscribing): one pass every 5 minutes, returning the scopes
    # to reconcile (their subscription had lapsed); None: no such job.
    subscriptions: Callable[[], Awaitable[list[str]]] | None = None
    deliver_push: Callable[[], Awaitable[int]] | None = None  # returns the rows it attempted


def conninfo_from_url(url: str) -> str:
    """A libpq conninfo string for psycopg from a SQLAlchemy PostgreSQL URL
    (`postgresql+psycopg://user:pw@host:5432/db?options=-csearch_path%3Dx`).

    Query parameters are libpq parameters (`options`, `sslmode`, `host` for a socket directory...) and
    are kept. The result may contain the password: never log it.

    Raises:
        JobsError: the URL is not a PostgreSQL URL, or repeats a parameter.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise JobsError("the database URL cannot be parsed") from None
    if parsed.get_backend_name() != "postgresql":
        raise JobsError(f"the job runtime needs PostgreSQL, not {parsed.get_backend_name()}")
    params: dict[str, str | int | None] = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": parsed.database,
    }
    for key, value in parsed.query.items():
        if not isinstance(value, str):
            raise JobsError(f"the database URL gives {key!r} more than once")
        params[key] = value
    return make_conninfo("", **{key: value for key, value in params.items() if value is not None})


class CoalescingJobManager(JobManager):
    """Procrastinate's job manager, except that a retry blocked by a pending job of the same queueing
    lock finishes the job as failed instead of leaving it `doing` (see the module docstring)."""

    async def retry_job(
        self,
        job: Job,
        retry_at: datetime.datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> None:
        try:
            await super().retry_job(job, retry_at=retry_at, priority=priority, queue=queue, lock=lock)
        except UniqueViolation as exc:
            if exc.constraint_name != QUEUEING_LOCK_CONSTRAINT:
                raise
            log.info("not retrying %s: a pending job of the same queueing lock takes over", job.call_string)
            await self.finish_job(job=job, status=Status.FAILED, delete_job=False)


def build_app(
    conninfo: str,
    handlers: JobHandlers | None,
    *,
    sync_interval_s: int = 900,
    full_sync_at: str = "03:00",
    purge_after_hours: int = 24,
    retry: Backoff | None = None,
    stalled_after_s: float = HEARTBEAT_WINDOW_S,
    pool_max_size: int = 10,
) -> App:
    """The Procrastinate app for calsync's jobs on the PostgreSQL at `conninfo` (see `conninfo_from_url`).

    With `handlers=None` the app can only defer jobs (`enqueue`), which is all `calsync serve` needs.
    Open it (`async with app.open_async():`) before use. A worker holds up to `pool_max_size` connections
    plus one for LISTEN; size it to the worker's concurrency plus a few for housekeeping.

    Raises:
        ScheduleError: `sync_interval_s` or `full_sync_at` cannot be scheduled.
    """
    every, daily = cron_every(sync_interval_s), daily_cron(full_sync_at)
    connector = PsycopgConnector(conninfo=conninfo, min_size=1, max_size=pool_max_size, name="calsync-jobs")
    app = App(connector=connector)
    app.job_manager = CoalescingJobManager(connector)
    if handlers is not None:
        _register(app, handlers, every=every, daily=daily, retry=retry or Backoff(),
                  purge_after_hours=purge_after_hours, stalled_after_s=stalled_after_s)  # fmt: skip
    return app


def _register(
    app: App,
    handlers: JobHandlers,
    *,
    every: str,
    daily: str,
    retry: Backoff,
    purge_after_hours: int,
    stalled_after_s: float,
) -> None:
    @app.task(name=SYNC_TASK, retry=retry)
    async def sync_mailbox(mailbox: str, full: bool) -> str:
        return await handlers.sync_mailbox(mailbox, full)

    @app.task(name=FAN_OUT_TASK, priority=HOUSEKEEPING_PRIORITY)
    async def fan_out(timestamp: int, full: bool) -> str:
        result = await enqueue(app, await handlers.mailboxes(), full=full)
        return f"deferred {result.deferred}, coalesced {result.coalesced}"

    # The queueing locks keep a slow round from piling up: a fan-out still pending when the next
    # period comes absorbs it (procrastinate logs and skips the defer).
    app.periodic(cron=every, periodic_id="round", task_kwargs={"full": False}, queueing_lock="fan-out")(
        fan_out
    )
    app.periodic(
        cron=daily, periodic_id="daily-full", task_kwargs={"full": True}, queueing_lock="fan-out-full"
    )(fan_out)

    if handlers.subscriptions is not None:
        keep = handlers.subscriptions

        @app.periodic(cron="*/5 * * * *", periodic_id="subscriptions")
        @app.task(name=SUBSCRIPTIONS_TASK, priority=HOUSEKEEPING_PRIORITY, queueing_lock="subscriptions",
                  lock="subscriptions")  # fmt: skip
        async def subscriptions(timestamp: int) -> str:
            lapsed = await keep()
            result = await enqueue(app, lapsed, full=True)
            return f"reconciling {result.deferred + result.coalesced}"

    @app.periodic(cron="0 * * * *", periodic_id="hourly")
    @app.task(name=PURGE_TASK, priority=HOUSEKEEPING_PRIORITY, queueing_lock="purge", lock="purge")
    async def purge_jobs(timestamp: int) -> None:
        await purge_finished_jobs(app, purge_after_hours)

    @app.periodic(cron="* * * * *", periodic_id="minutely")
    @app.task(name=RECOVER_TASK, priority=HOUSEKEEPING_PRIORITY, queueing_lock="recover", lock="recover")
    async def recover(timestamp: int) -> int:
        return await recover_stalled(app, stalled_after_s)

    deliver = handlers.deliver_push
    if deliver is not None:
        # Outranks syncs, like housekeeping: a notification must not wait behind a fan-out's 10,000 runs.
        @app.task(name=PUSH_TASK, priority=HOUSEKEEPING_PRIORITY, queueing_lock=PUSH_QUEUEING_LOCK)
        async def deliver_push() -> int:
            return await deliver()

        @app.periodic(cron="* * * * *", periodic_id="push")
        @app.task(name=f"{PUSH_TASK}.periodic", priority=HOUSEKEEPING_PRIORITY, queueing_lock="push-periodic")
        async def deliver_push_periodic(timestamp: int) -> int:
            return await deliver()

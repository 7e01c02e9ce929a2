"""Scale-out runtime: calsync's runs as Procrastinate jobs on PostgreSQL, run by `calsync worker`s.

With a PostgreSQL database, each mailbox sync ("run") is a job; any number of `calsync worker`
processes on any host run them. This package decides *when* work runs; the services, injected as
`JobHandlers`, decide *what* it does (an import contract keeps Graph, sources and the CLI out).

Guarantees, all enforced by PostgreSQL rather than by the workers' good behaviour:

- one run per mailbox at a time (per-mailbox `lock`), at most one pending incremental and one pending
  full sync per mailbox (`queueing_lock`; extra requests are coalesced), see `tasks`;
- a periodic fan-out every `sync_interval_s` and a daily full reconcile, each deferred once per period
  however many workers run; finished jobs purged; stalled jobs of dead workers requeued, see `app`;
- transient failures retried with capped exponential backoff (`Backoff`), other failures not;
- Graph's per-app request budget shared among workers: each worker takes requests_per_second / live
  workers (from procrastinate's heartbeat table), recomputed every 30 seconds, see `ops`.

Wiring (`calsync worker`): `app = build_app(conninfo_from_url(url), handlers, ...)`, then
`async with app.open_async(): await run_worker(app, concurrency=N)`. `calsync serve` builds the app
with `handlers=None` and calls `enqueue`; `calsync db upgrade` calls `ensure_schema`.
"""

from __future__ import annotations

from calsync.runtime.jobs.app import CoalescingJobManager, JobHandlers, build_app, conninfo_from_url
from calsync.runtime.jobs.enqueue import EnqueueResult, defer_push, enqueue
from calsync.runtime.jobs.errors import JobsError, ScheduleError, TransientRunError
from calsync.runtime.jobs.ops import (
    ensure_schema,
    live_workers,
    purge_finished_jobs,
    queue_depth,
    recover_stalled,
    run_worker,
    share_of_budget,
    watch_budget,
)
from calsync.runtime.jobs.schedule import Backoff, cron_every, daily_cron
from calsync.runtime.jobs.tasks import mailbox_lock, mailbox_queueing_lock

__all__ = [
    "Backoff",
    "CoalescingJobManager",
    "EnqueueResult",
    "JobHandlers",
    "JobsError",
    "ScheduleError",
    "TransientRunError",
    "build_app",
    "conninfo_from_url",
    "cron_every",
    "daily_cron",
    "defer_push",
    "enqueue",
    "ensure_schema",
    "live_workers",
    "mailbox_lock",
    "mailbox_queueing_lock",
    "purge_finished_jobs",
    "queue_depth",
    "recover_stalled",
    "run_worker",
    "share_of_budget",
    "watch_budget",
]
